// RUN: gemmac-opt %s -gemma-convert-to-llvm | FileCheck %s

// gemma.buffer becomes a memref descriptor over the raw pointer; calls to
// external kernels pass each memref as the address of its first element.

func.func private @kernel(!llvm.ptr, memref<?xf32>, index, f32)

// CHECK-LABEL: llvm.func @kernel(!llvm.ptr, !llvm.ptr, i64, f32)
// CHECK: llvm.func @entry(%[[P:.*]]: !llvm.ptr, %[[N:.*]]: i64)
func.func @entry(%p: !llvm.ptr, %n: index) {
  // CHECK: llvm.insertvalue %[[P]], %{{.*}}[0]
  // CHECK: llvm.insertvalue %[[P]], %{{.*}}[1]
  // CHECK: llvm.insertvalue %[[N]], %{{.*}}[3, 0]
  %b = gemma.buffer %p, %n : !llvm.ptr -> memref<?xi8>
  %c8 = arith.constant 8 : index
  %v = memref.view %b[%c8][%n] : memref<?xi8> to memref<?xf32>
  %f = arith.constant 1.0 : f32
  // The view's aligned pointer is the buffer's, 8 bytes on.
  // CHECK: llvm.getelementptr %{{.*}}[%{{.*}}] : (!llvm.ptr, i64) -> !llvm.ptr, i8
  // CHECK: %[[ADDR:.*]] = llvm.extractvalue %[[DESC:.*]][1]
  // CHECK-NEXT: llvm.call @kernel(%[[P]], %[[ADDR]], %[[N]], %{{.*}}) : (!llvm.ptr, !llvm.ptr, i64, f32) -> ()
  func.call @kernel(%p, %v, %n, %f) : (!llvm.ptr, memref<?xf32>, index, f32) -> ()
  return
}
