# `make package`: a .deb of the binary, the unit, the settings file (a
# conffile) and the README.  libbcc is dlopen()ed, so shlibdeps cannot see
# it: named by hand.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME jcode-watcher)
set(CPACK_PACKAGE_CONTACT "JCode team <jcode@jbnu.ac.kr>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF agent reporting compiles, runs and saved files of JCode student containers")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libbpfcc (>= 0.26)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "xz-utils, kmod, linux-headers-generic | linux-headers-cloud-amd64 | linux-headers-amd64")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/deb/conffiles
    ${CMAKE_SOURCE_DIR}/packaging/deb/postinst
    ${CMAKE_SOURCE_DIR}/packaging/deb/prerm
    ${CMAKE_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
