# jcw_embed_bpf(OUT VAR BPF_SOURCE INCLUDE_DIR)
#
# Turns the BPF text into a C string constant.  `#include "x.h"` lines that
# name a header in INCLUDE_DIR are replaced by that header's text, so the
# kernel side compiles against the very header the user side includes, and the
# binary needs no files at run time.
function(jcw_embed_bpf out var src incdir)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DSRC=${src} -DINCDIR=${incdir} -DOUT=${out} -DVAR=${var}
            -P ${CMAKE_SOURCE_DIR}/cmake/EmbedBpfScript.cmake
    DEPENDS ${src} ${CMAKE_SOURCE_DIR}/cmake/EmbedBpfScript.cmake ${incdir}/procmon.h
    COMMENT "Embedding BPF text ${src}"
    VERBATIM)
endfunction()
