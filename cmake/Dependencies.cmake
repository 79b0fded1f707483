# Finds every external dependency with pkg-config and stops with a message
# that names the Debian package to install when one is missing.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: run scripts/install-deps.sh (Debian package pkg-config)")
endif()

function(ringlog_require_pkg target module debian_package)
  pkg_check_modules(${target} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR "Missing dependency '${module}': run scripts/install-deps.sh "
                        "(Debian package ${debian_package})")
  endif()
endfunction()

ringlog_require_pkg(URING liburing liburing-dev)
ringlog_require_pkg(XXHASH libxxhash libxxhash-dev)
ringlog_require_pkg(PROTOBUFC libprotobuf-c libprotobuf-c-dev)
ringlog_require_pkg(LZ4 liblz4 liblz4-dev)
ringlog_require_pkg(ZSTD libzstd libzstd-dev)
ringlog_require_pkg(OPENSSL openssl libssl-dev)
if(RINGLOG_TESTS)
  ringlog_require_pkg(CRITERION criterion libcriterion-dev)
endif()

find_program(PROTOC_C protoc-c)
if(NOT PROTOC_C)
  message(FATAL_ERROR "Missing 'protoc-c': run scripts/install-deps.sh (Debian package protobuf-c-compiler)")
endif()

find_package(Threads REQUIRED)
