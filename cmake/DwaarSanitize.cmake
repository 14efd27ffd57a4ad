# DWAAR_SANITIZE=address,undefined (any comma list clang/gcc accept) instruments everything.
if(DWAAR_SANITIZE)
    message(STATUS "dwaar: sanitizers ${DWAAR_SANITIZE}")
    add_compile_options(-fsanitize=${DWAAR_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    add_link_options(-fsanitize=${DWAAR_SANITIZE})
    add_compile_definitions(DW_DEBUG_CHECKS=1)
endif()
if(DWAAR_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "DWAAR_FUZZ=ON needs clang (CC=clang)")
    endif()
    # Instrument the libraries for coverage; harnesses add -fsanitize=fuzzer at link time.
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
