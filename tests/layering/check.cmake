# The layering rule holds in the build (ctest layering_sync, layering_io): with a layer's real
# include path (the target's INCLUDE_DIRECTORIES), a runtime/ header is not found, while the
# public headers, tide/ext.h and base/ are. Run with -DCC= -DINCS= -DPROBE=.
set(args -fsyntax-only -D_GNU_SOURCE)
foreach(dir ${INCS})
  list(APPEND args "-I${dir}")
endforeach()
execute_process(COMMAND ${CC} ${args} -DTIDE_PROBE_ALLOWED ${PROBE}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the headers this layer may use do not compile:\n${out}")
endif()
execute_process(COMMAND ${CC} ${args} ${PROBE} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "a runtime/ header is visible to this layer: the layering is not enforced")
endif()
if(NOT out MATCHES "scheduler\\.h")
  message(FATAL_ERROR "the probe failed for another reason:\n${out}")
endif()
message(STATUS "runtime/ headers are out of this layer's reach")
