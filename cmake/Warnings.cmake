# Warnings every target gets; -Werror when JCW_WERROR is on (CI), and the
# sanitizers when JCW_SANITIZE is on.
if(JCW_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

function(jcw_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wformat=2
                         -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter)
  if(JCW_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
