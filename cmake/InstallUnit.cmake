# Run at install time (install(CODE) includes it): the unit's paths follow
# the prefix the install really uses (`cmake --install --prefix`, CPack's
# /usr), not the one configured.  The settings file is installed only when
# absent, so a `make install` over a configured node keeps its settings.
set(JCW_SBINDIR "${CMAKE_INSTALL_PREFIX}/${JCW_SBINDIR_REL}")
set(JCW_DOCDIR "${CMAKE_INSTALL_PREFIX}/${JCW_DOCDIR_REL}")
configure_file("${JCW_SOURCE_DIR}/packaging/jcode-watcher.service.in"
               "${JCW_BINARY_DIR}/install-unit/jcode-watcher.service" @ONLY)
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/${JCW_UNITDIR_REL}" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${JCW_BINARY_DIR}/install-unit/jcode-watcher.service")
if(EXISTS "$ENV{DESTDIR}${JCW_SETTINGS_FILE}")
  message(STATUS "Kept: $ENV{DESTDIR}${JCW_SETTINGS_FILE} (exists; the shipped default is in ${JCW_DOCDIR})")
else()
  get_filename_component(settings_dir "${JCW_SETTINGS_FILE}" DIRECTORY)
  file(INSTALL DESTINATION "${settings_dir}" TYPE FILE RENAME jcode-watcher
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${JCW_SOURCE_DIR}/packaging/jcode-watcher.env")
endif()
