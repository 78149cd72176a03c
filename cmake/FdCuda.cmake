# SPDX-License-Identifier: Apache-2.0
# Arch list -> toolkit check -> SASS for every arch + PTX for the highest.
#   70  Volta  (V100): fp16 mma m8n8k4/WMMA; needs CUDA <= 12.x (13 dropped it)
#   75  Turing (T4):   ldmatrix, int8 mma m8n8k16
#   80  Ampere (A100): cp.async, bf16 mma m16n8k16
#   86/89 Ampere/Ada:  89 adds FP8
#   90  Hopper (H100): wgmma, TMA
set(FD_WITH_CUDA OFF)
set(FD_WITH_CUDA_01 0)
set(FD_CUDA_ARCH_INIT 0)
set(FD_CUDA_PTX_ARCH 0)
set(FD_CUDA_TOOLKIT "")
set(FD_CUDA_ARCH_MAX 0)

string(REGEX REPLACE "[][ ]" "" _archs "${FD_CUDA_ARCHS}")
string(REPLACE "," ";" _archs "${_archs}")
if(_archs STREQUAL "")
  return()
endif()
foreach(a IN LISTS _archs)
  if(NOT a MATCHES "^[0-9]+$")
    message(FATAL_ERROR "FD_CUDA_ARCHS: '${a}' is not an SM number; write e.g. \"[70]\" or \"[80,90]\"")
  endif()
endforeach()
list(REMOVE_DUPLICATES _archs)
list(SORT _archs COMPARE NATURAL)
list(GET _archs -1 FD_CUDA_ARCH_MAX)

if(NOT CMAKE_CUDA_COMPILER)
  find_program(_nvcc nvcc)
  if(NOT _nvcc)
    message(FATAL_ERROR "FD_CUDA_ARCHS=${FD_CUDA_ARCHS} needs nvcc and none is on PATH; run scripts/setup.sh \"[${FD_CUDA_ARCH_MAX}]\"")
  endif()
  set(CMAKE_CUDA_COMPILER ${_nvcc})
endif()
execute_process(COMMAND ${CMAKE_CUDA_COMPILER} --version OUTPUT_VARIABLE _nvv)
string(REGEX MATCH "V([0-9]+)\\.([0-9]+)\\.([0-9]+)" _m "${_nvv}")
set(_major ${CMAKE_MATCH_1})
set(_minor ${CMAKE_MATCH_2})
if(_major STREQUAL "")
  message(FATAL_ERROR "could not read the version of ${CMAKE_CUDA_COMPILER}")
endif()

# What each toolkit can emit code for.
if(_major GREATER_EQUAL 13)
  set(_lo 75)
  set(_hi 121)
elseif(_major EQUAL 12)
  set(_lo 50)
  if(_minor GREATER_EQUAL 8)
    set(_hi 120)
  else()
    set(_hi 90)
  endif()
else()
  set(_lo 35)
  set(_hi 90)
endif()
foreach(a IN LISTS _archs)
  if(a LESS _lo)
    message(FATAL_ERROR "SM${a} cannot be built with CUDA ${_major}.${_minor} (${CMAKE_CUDA_COMPILER}): "
      "it builds SM${_lo} and up. For SM70 use CUDA 11.8: ./build.sh \"[${a}]\" picks it "
      "(scripts/setup.sh \"[${a}]\" installs Debian's nvidia-cuda-toolkit), or pass "
      "-DCMAKE_CUDA_COMPILER=/usr/lib/nvidia-cuda-toolkit/bin/nvcc")
  endif()
  if(a GREATER _hi)
    message(FATAL_ERROR "SM${a} cannot be built with CUDA ${_major}.${_minor} (${CMAKE_CUDA_COMPILER}): "
      "it builds up to SM${_hi}. Build SM${a} in a separate list without 70, e.g. ./build.sh \"[${a}]\", "
      "which uses the newest toolkit on PATH")
  endif()
endforeach()

set(CMAKE_CUDA_ARCHITECTURES "")
foreach(a IN LISTS _archs)
  list(APPEND CMAKE_CUDA_ARCHITECTURES ${a}-real)
endforeach()
list(APPEND CMAKE_CUDA_ARCHITECTURES ${FD_CUDA_ARCH_MAX}-virtual)
set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
if(CMAKE_CUDA_COMPILER MATCHES "^/usr/lib/nvidia-cuda-toolkit/")
  set(ENV{PATH} "/usr/lib/nvidia-cuda-toolkit/bin:/usr/bin:$ENV{PATH}")  # its ptxas (see below)
endif()
enable_language(CUDA)
# Static cudart: binaries need only the driver (carried builds run anywhere).
# Looked up by hand: FindCUDAToolkit does not know Debian's split layout.
find_library(FD_CUDART_STATIC NAMES cudart_static
  HINTS ${CMAKE_CUDA_IMPLICIT_LINK_DIRECTORIES} NO_DEFAULT_PATH)
if(NOT FD_CUDART_STATIC)
  message(FATAL_ERROR "libcudart_static.a not found next to ${CMAKE_CUDA_COMPILER} (looked in ${CMAKE_CUDA_IMPLICIT_LINK_DIRECTORIES})")
endif()
add_library(fd_cudart INTERFACE)
target_link_libraries(fd_cudart INTERFACE ${FD_CUDART_STATIC} dl rt Threads::Threads)
# Debian's CUDA 11.8 keeps its tools and headers in /usr/bin and /usr/include.
# Another toolkit's ptxas on PATH or headers in /usr/local/include (searched
# before /usr/include) would shadow them: pin PATH for every nvcc run, and put
# a folder of links to the /usr/include copies of the clashing headers first.
set(FD_CUDA_SHADOW_INCLUDE "")
if(CMAKE_CUDA_COMPILER MATCHES "^/usr/lib/nvidia-cuda-toolkit/")
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env "PATH=/usr/lib/nvidia-cuda-toolkit/bin:/usr/bin:/bin" ${CCACHE_PROGRAM})
  set(FD_CUDA_SHADOW_INCLUDE ${CMAKE_BINARY_DIR}/cuda-debian-include)
  file(MAKE_DIRECTORY ${FD_CUDA_SHADOW_INCLUDE})
  file(GLOB _local RELATIVE /usr/local/include /usr/local/include/*)
  foreach(h IN LISTS _local)
    if(EXISTS /usr/include/${h} AND NOT EXISTS ${FD_CUDA_SHADOW_INCLUDE}/${h})
      file(CREATE_LINK /usr/include/${h} ${FD_CUDA_SHADOW_INCLUDE}/${h} SYMBOLIC)
    endif()
  endforeach()
endif()

set(FD_WITH_CUDA ON)
set(FD_WITH_CUDA_01 1)
string(REPLACE ";" ", " FD_CUDA_ARCH_INIT "${_archs}")
set(FD_CUDA_PTX_ARCH ${FD_CUDA_ARCH_MAX})
set(FD_CUDA_TOOLKIT ${CMAKE_CUDA_COMPILER_VERSION})
set(FD_CUDA_ARCH_LIST ${_archs})
message(STATUS "fdeploy: CUDA ${CMAKE_CUDA_COMPILER_VERSION} (${CMAKE_CUDA_COMPILER}), SASS ${_archs}, PTX compute_${FD_CUDA_ARCH_MAX}")

function(fd_cuda_target_setup target)
  set_target_properties(${target} PROPERTIES CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo -Xcompiler=-fPIC>)
  if(FD_CUDA_SHADOW_INCLUDE)
    target_include_directories(${target} BEFORE PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:${FD_CUDA_SHADOW_INCLUDE}>)
  endif()
endfunction()
