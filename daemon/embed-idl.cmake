# Turns the Varlink interface description into a C string, byte for byte.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}
  "/* Generated from docs/io.hostdevd.varlink; do not edit. */\n"
  "#include <stddef.h>\n"
  "const char hostdevd_idl[] = {${bytes} 0x00};\n"
  "const size_t hostdevd_idl_len = sizeof(hostdevd_idl) - 1;\n")
