# The header-only forms of lifeline's dependencies for the Windows build.
# Debian ships no mingw builds of Boost, spdlog, fmt, CLI11 or toml++, but their
# headers work as they are: they are linked into a directory of their own (the
# whole of /usr/include on the include path would pull glibc's headers into a
# Windows build), and the targets the Linux build gets from find_package are
# made here as interface libraries. OpenSSL and SQLite have no Windows build in
# Debian: the Windows build has no TLS (LIFELINE_TLS) and no history.
set(LIFELINE_WIN_INCLUDE ${PROJECT_BINARY_DIR}/win-include)
file(MAKE_DIRECTORY ${LIFELINE_WIN_INCLUDE})
foreach(dir boost spdlog fmt CLI toml++)
  if(NOT EXISTS /usr/include/${dir})
    message(FATAL_ERROR "the Windows build needs /usr/include/${dir}: run scripts/bootstrap windows")
  endif()
  file(CREATE_LINK /usr/include/${dir} ${LIFELINE_WIN_INCLUDE}/${dir} SYMBOLIC)
endforeach()

add_library(lifeline_win_headers INTERFACE)
target_include_directories(lifeline_win_headers SYSTEM INTERFACE $<BUILD_INTERFACE:${LIFELINE_WIN_INCLUDE}>)
target_compile_definitions(lifeline_win_headers INTERFACE _WIN32_WINNT=0x0A00 WIN32_LEAN_AND_MEAN NOMINMAX
                                                          BOOST_ALL_NO_LIB FMT_HEADER_ONLY SPDLOG_FMT_EXTERNAL
                                                          _POSIX_THREAD_SAFE_FUNCTIONS)  # gmtime_r
target_link_libraries(lifeline_win_headers INTERFACE ws2_32 mswsock bcrypt)

add_library(Boost::headers ALIAS lifeline_win_headers)
# Boost.JSON's sources are compiled once, into lifeline_core (src/core/boost_json_win.cpp).
add_library(Boost::json ALIAS lifeline_win_headers)
add_library(spdlog::spdlog ALIAS lifeline_win_headers)
add_library(CLI11::CLI11 ALIAS lifeline_win_headers)
add_library(tomlplusplus::tomlplusplus ALIAS lifeline_win_headers)
