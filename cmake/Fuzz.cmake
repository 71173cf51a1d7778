# JCW_FUZZ: build for the libFuzzer harnesses in tests/fuzz (needs clang).
# Every target gets coverage for libFuzzer and ASan + UBSan, undefined
# behaviour fatal; only the harnesses link libFuzzer's main.
if(JCW_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "JCW_FUZZ needs clang: cmake -DCMAKE_C_COMPILER=clang -DJCW_FUZZ=ON")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
