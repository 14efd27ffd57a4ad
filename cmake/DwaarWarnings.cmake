# Warnings for every dwaar target. DWAAR_WERROR turns them into errors (CI and `make test`).
function(dwaar_target_warnings target)
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
        -Wpointer-arith -Wformat=2 -Wvla -Wno-unused-parameter -Wimplicit-fallthrough)
    if(DWAAR_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()
