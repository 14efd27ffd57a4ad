# dwaar_library(<name> SOURCES ... DEPS ...): libdwaar_<name>.a with PUBLIC include/ and PRIVATE src/.
function(dwaar_library name)
    cmake_parse_arguments(L "" "" "SOURCES;DEPS" ${ARGN})
    add_library(dwaar_${name} STATIC ${L_SOURCES})
    target_include_directories(dwaar_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                             PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(dwaar_${name} PUBLIC ${L_DEPS})
    dwaar_target_warnings(dwaar_${name})
endfunction()

# dwaar_unit_test(<lib> <name> SOURCES ... DEPS ...): a cmocka executable registered as ctest "<lib>.<name>".
function(dwaar_unit_test lib name)
    cmake_parse_arguments(T "" "" "SOURCES;DEPS" ${ARGN})
    set(exe test_${lib}_${name})
    add_executable(${exe} ${T_SOURCES})
    target_include_directories(${exe} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(${exe} PRIVATE dwaar_${lib} ${T_DEPS} PkgConfig::CMOCKA)
    dwaar_target_warnings(${exe})
    add_test(NAME ${lib}.${name} COMMAND ${exe})
    set_tests_properties(${lib}.${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

# dwaar_fuzzer(<name> SOURCES ... DEPS ...): a libFuzzer harness (only with DWAAR_FUZZ=ON).
function(dwaar_fuzzer name)
    cmake_parse_arguments(F "" "" "SOURCES;DEPS" ${ARGN})
    add_executable(fuzz_${name} ${F_SOURCES})
    target_include_directories(fuzz_${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(fuzz_${name} PRIVATE ${F_DEPS})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
endfunction()
