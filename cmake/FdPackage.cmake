# SPDX-License-Identifier: Apache-2.0
# Install rules and the CPack tarball: library, headers, pkg-config, the program.
include(GNUInstallDirs)
install(TARGETS fdeploy fdeploy_static fdeploy_cli
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/fdeploy DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(FD_WITH_CUDA)
  set(FD_PC_ARCHS "${FD_CUDA_ARCH_INIT}")
  set(FD_PC_TOOLKIT "${FD_CUDA_TOOLKIT}")
else()
  set(FD_PC_ARCHS "cpu")
  set(FD_PC_TOOLKIT "none")
endif()
configure_file(cmake/fdeploy.pc.in ${CMAKE_BINARY_DIR}/fdeploy.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/fdeploy.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(CPACK_GENERATOR TGZ)
set(CPACK_PACKAGE_NAME fdeploy)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
if(FD_WITH_CUDA)
  string(REPLACE ";" "-" _tag "${FD_CUDA_ARCH_LIST}")
  set(CPACK_PACKAGE_FILE_NAME "fdeploy-${PROJECT_VERSION}-sm${_tag}-cuda${FD_CUDA_TOOLKIT}")
else()
  set(CPACK_PACKAGE_FILE_NAME "fdeploy-${PROJECT_VERSION}-cpu")
endif()
include(CPack)
