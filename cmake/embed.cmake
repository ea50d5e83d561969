# Turns a file into a C++ source that defines one std::string_view.
#   cmake -DINPUT=file -DOUTPUT=out.cpp -DSYMBOL=kName -DNAMESPACE=lifeline::admin -P cmake/embed.cmake
# Run at build time (see lifeline_embed below), so editing the file rebuilds the program.
if(CMAKE_SCRIPT_MODE_FILE)
  file(READ ${INPUT} hex HEX)
  string(LENGTH "${hex}" hex_len)
  math(EXPR size "${hex_len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
                       bytes "${bytes}")
  file(WRITE ${OUTPUT}.tmp
       "// Generated from ${INPUT} by cmake/embed.cmake: do not edit.\n#include <string_view>\n"
       "namespace ${NAMESPACE} {\nnamespace {\nconstexpr char kBytes[] = {\n${bytes}0};\n}  // namespace\n"
       "extern const std::string_view ${SYMBOL};\nconst std::string_view ${SYMBOL}(kBytes, ${size});\n}\n")
  file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
  file(REMOVE ${OUTPUT}.tmp)
  return()
endif()

# lifeline_embed(<target> <file> <symbol> <namespace>): compiles <file> into <target> as <namespace>::<symbol>.
function(lifeline_embed target input symbol namespace)
  get_filename_component(name ${input} NAME)
  set(output ${CMAKE_CURRENT_BINARY_DIR}/embedded/${name}.cpp)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${input} -DOUTPUT=${output} -DSYMBOL=${symbol} -DNAMESPACE=${namespace} -P
            ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${input} ${PROJECT_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "Embedding ${name}")
  target_sources(${target} PRIVATE ${output})
endfunction()
