# Fails the build if an object compiled with wider instruction-set flags
# defines a weak (COMDAT) symbol: the linker may keep that copy for the whole
# module, and a CPU without the instruction set would then crash in baseline
# code. ISA files must keep everything but their entry points internal.
string(REPLACE "|" ";" OBJECTS "${OBJECTS}")
foreach(object IN LISTS OBJECTS)
  execute_process(COMMAND ${NM} --defined-only -C ${object} OUTPUT_VARIABLE symbols RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nm failed on ${object}")
  endif()
  string(REGEX MATCHALL "[^\n]* [WVu] [^\n]*" weak "${symbols}")
  # DW.ref.__gxx_personality_v0 is data (a pointer to the C++ runtime's unwinder, which is
  # not compiled here), not code: sanitizer builds emit it into every object.
  list(FILTER weak EXCLUDE REGEX " DW\\.ref\\.__gxx_personality_v0$")
  if(weak)
    string(REPLACE ";" "\n  " weak "${weak}")
    message(FATAL_ERROR "${object} defines weak symbols compiled for a wider ISA:\n  ${weak}")
  endif()
endforeach()
