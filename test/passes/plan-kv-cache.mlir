// RUN: gemmac-opt %s -split-input-file -gemma-plan-kv-cache | FileCheck %s

// Sliding caches become rings of `window` rows at fixed offsets, global
// caches one row per context token after them; a cache read by later layers
// (shared KV) is written after its last reader.

// CHECK: module attributes {gemma.kv_plan = [
// CHECK-SAME: #gemma.kv_cache<owner = 0, readers = [0, 2], width = 32, rows = 4, offset = 0, per_token = 0>,
// CHECK-SAME: #gemma.kv_cache<owner = 1, readers = [1], width = 32, rows = 0, offset = 512, per_token = 0>]
// CHECK-LABEL: func.func @shared
// CHECK: gemma.attention {{.*}}kv_cache = 0 : i64, layer = 0
// CHECK-NOT: gemma.kv_store {{.*}}kv_cache = 0
// CHECK: gemma.attention {{.*}}kv_cache = 1 : i64, layer = 1
// CHECK-NEXT: gemma.kv_store {{.*}}kv_cache = 1
// CHECK: gemma.attention {{.*}}kv_cache = 0 : i64, layer = 2
// CHECK-NEXT: gemma.kv_store {{.*}}kv_cache = 0
func.func @shared(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %p: index) attributes {gemma.entry} {
  %o0 = gemma.attention %q, %k, %v, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 4 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  gemma.kv_store %k, %v, %p {kv_cache = 0 : i64} : tensor<?x32xf32>, tensor<?x32xf32>
  %o1 = gemma.attention %q, %k, %v, %p {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 0 : i64, kv_cache = 1 : i64, scale = 1.0 : f32} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  gemma.kv_store %k, %v, %p {kv_cache = 1 : i64} : tensor<?x32xf32>, tensor<?x32xf32>
  %o2 = gemma.attention %q, %k, %v, %p {layer = 2 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 4 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  return
}

// -----

// No sharing: every store already follows its only reader and stays.
// CHECK: module attributes {gemma.kv_plan = [
// CHECK-SAME: #gemma.kv_cache<owner = 0, readers = [0], width = 32, rows = 8, offset = 0, per_token = 0>,
// CHECK-SAME: #gemma.kv_cache<owner = 1, readers = [1], width = 32, rows = 8, offset = 1024, per_token = 0>]
// CHECK-LABEL: func.func @unshared
// CHECK: gemma.attention {{.*}}layer = 0
// CHECK-NEXT: gemma.kv_store {{.*}}kv_cache = 0
// CHECK-NEXT: gemma.attention {{.*}}layer = 1
// CHECK-NEXT: gemma.kv_store {{.*}}kv_cache = 1
func.func @unshared(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %p: index) attributes {gemma.entry} {
  %o0 = gemma.attention %q, %k, %v, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  gemma.kv_store %k, %v, %p {kv_cache = 0 : i64} : tensor<?x32xf32>, tensor<?x32xf32>
  %o1 = gemma.attention %q, %k, %v, %p {layer = 1 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 8 : i64, kv_cache = 1 : i64, scale = 1.0 : f32} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
  gemma.kv_store %k, %v, %p {kv_cache = 1 : i64} : tensor<?x32xf32>, tensor<?x32xf32>
  return
}

// -----

// With f32 elements a ring takes twice the bytes.
// CHECK: module attributes {gemma.kv_cache_type = f32, gemma.kv_plan = [#gemma.kv_cache<owner = 0, readers = [0], width = 32, rows = 8, offset = 0, per_token = 0>]}
module attributes {gemma.kv_cache_type = f32} {
  func.func @f32cache(%q: tensor<?x64xf32>, %k: tensor<?x32xf32>, %v: tensor<?x32xf32>, %p: index) attributes {gemma.entry} {
    %o0 = gemma.attention %q, %k, %v, %p {layer = 0 : i64, num_heads = 2 : i64, num_kv_heads = 1 : i64, head_dim = 32 : i64, window = 8 : i64, kv_cache = 0 : i64, scale = 1.0 : f32} : tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x32xf32> -> tensor<?x64xf32>
    gemma.kv_store %k, %v, %p {kv_cache = 0 : i64} : tensor<?x32xf32>, tensor<?x32xf32>
    return
  }
}

