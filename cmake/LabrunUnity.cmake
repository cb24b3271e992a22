# labrun_unity_build(TARGET): with LABRUN_UNITY_BUILD on, TARGET's sources are compiled in batches
# of up to 16 files, each batch one translation unit that parses libtorch's headers once (they take
# 10-16 s a file to parse; labrun's own code a few seconds). Sixteen makes the library two batches
# and the tool one, which with labrun::io's batch and the MLP kernel keep both cores of a 2-core
# machine busy under Ninja: a clean labrun target in 54-59 s, against 67-68 s in batches of 8 or 12
# (2026-12-07). An edit rebuilds its file's batch (about 20 s); -DLABRUN_UNITY_BUILD=OFF for an
# edit-compile loop. A file with flags of its own (the lane kernels) is compiled alone, as
# SKIP_UNITY_BUILD_INCLUSION marks it. Names in anonymous namespaces share a batch: they must
# differ between the files of a target.
function(labrun_unity_build target)
  if(LABRUN_UNITY_BUILD)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE BATCH UNITY_BUILD_BATCH_SIZE 16)
  endif()
endfunction()
