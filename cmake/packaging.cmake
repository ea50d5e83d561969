# `make package`: one .deb with the program, the libraries, headers, the CMake
# package and lifeline.pc, the systemd unit and /etc/lifeline/server.toml.
# One package rather than lifeline + lifeline-dev: the libraries are static,
# so the program needs nothing of the -dev part, and a consumer needs it all.

configure_file(${PROJECT_SOURCE_DIR}/cmake/lifeline.pc.in ${PROJECT_BINARY_DIR}/lifeline.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/lifeline.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/lifeline.service DESTINATION lib/systemd/system)
# /etc, not <prefix>/etc: where the unit and the conffile say it is.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/server.toml DESTINATION /etc/lifeline)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/operations.md ${PROJECT_SOURCE_DIR}/docs/api.md
              ${PROJECT_SOURCE_DIR}/docs/protocol.md ${PROJECT_SOURCE_DIR}/docs/json.md
              ${PROJECT_SOURCE_DIR}/docs/browsers.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The JavaScript client, for a web server to serve beside its pages (docs/browsers.md).
install(FILES ${PROJECT_SOURCE_DIR}/clients/js/lifeline.js DESTINATION ${CMAKE_INSTALL_DATADIR}/lifeline/js)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME lifeline)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "lifeline maintainers <lifeline@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "application-level heartbeat and presence server")
set(CPACK_PACKAGE_DESCRIPTION "lifeline keeps a live online list of connected clients, notices silent ones within a
bounded time, and lets clients reconnect by themselves. The package holds the lifeline program (serve, agent, ls,
watch, history), its systemd unit, and the C++ libraries, headers, CMake package and pkg-config file.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # the program's run-time libraries, as dpkg-shlibdeps finds them
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
# What a consumer of the static libraries needs to build against them.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS
    "libboost1.81-dev, libboost-json1.81-dev, libspdlog-dev, libfmt-dev, libssl-dev, libsqlite3-dev, pkg-config")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
include(CPack)
