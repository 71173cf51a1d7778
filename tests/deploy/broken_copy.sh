# broken_copy.sh - sourced by the manifest tests: a broken copy of the k8s/
# base must fail its check, with its own error, so the check is shown to
# bite.  The sourcing script sets $base and $tmp and defines
#   check_copy DIR NAME   (the check of a copy; its output is matched)
# broken NAME FILE SED-SCRIPT EXPECTED-ERROR
broken() {
	local name=$1 file=$2 script=$3 expect=$4 copy="$tmp/$1" out
	cp -r "$base" "$copy"
	sed -i "$script" "$copy/$file"
	cmp -s "$base/$file" "$copy/$file" && { echo "FAIL: $name: the edit changed nothing"; exit 1; }
	if out=$(check_copy "$copy" "$name"); then
		echo "FAIL: $name: a broken $file passed"; exit 1
	fi
	grep -qF -- "$expect" <<<"$out" || { echo "$out"; echo "FAIL: $name: not the expected error: $expect"; exit 1; }
	echo "ok: $name rejected: $expect"
}
