//===- GemmaGpuOps.td - the host side of a GPU program ------*- tablegen -*-===//
//
// After the GPU kernel phase every gemma op of the entry function is followed
// by the `gpu.launch_func` of its kernel (gemma-lower-to-gpu). The launch's
// grid and buffer arguments are these ops: ranges of the buffers a program
// binds (abi/gpu_program.h's spaces), the arena slots of activations (placed
// by gemma-plan-gpu-arena), program constants and RoPE tables. The program
// image writer serializes them as they are.
//
//===----------------------------------------------------------------------===//

#ifndef GEMMAC_GEMMA_GPU_OPS
#define GEMMAC_GEMMA_GPU_OPS

// Values equal abi::gpu::Space (static_assert in the image writer).
def Gemma_GpuSpace : I32EnumAttr<"GpuSpace", "a buffer a GPU launch binds", [
    I32EnumAttrCase<"weights", 0>,
    I32EnumAttrCase<"arena", 1>,
    I32EnumAttrCase<"kv", 2>,
    I32EnumAttrCase<"tokens", 3>,
    I32EnumAttrCase<"params", 4>,
    I32EnumAttrCase<"constants", 5>,
    I32EnumAttrCase<"tables", 6>,
    I32EnumAttrCase<"rope", 7>
  ]> {
  let cppNamespace = "::gemmac::gemma";
}

// Values equal abi::gpu::Rows.
def Gemma_GpuRows : I32EnumAttr<"GpuRows", "the rows a launch's grid.y spans", [
    I32EnumAttrCase<"one", 0>,
    I32EnumAttrCase<"tokens", 1>,
    I32EnumAttrCase<"n_out", 2>
  ]> {
  let cppNamespace = "::gemmac::gemma";
}

// Which part of an activation's arena slot a kernel argument is.
def Gemma_GpuSlotPart : I32EnumAttr<"GpuSlotPart", "part of an arena slot", [
    I32EnumAttrCase<"rows", 0>,
    I32EnumAttrCase<"quants", 1>,
    I32EnumAttrCase<"aux", 2>
  ]> {
  let cppNamespace = "::gemmac::gemma";
}

def Gemma_GpuBuffer : MemRefRankOf<[AnyType], [1]>;

def Gemma_GpuViewOp : Gemma_Op<"gpu_view", [Pure]> {
  let summary = "a range of one of a GPU program's buffers";
  let description = [{
    Bytes [offset, offset + bytes) of buffer `space`, where offset and size
    each grow by `offset_per_ctx` and `bytes_per_ctx` bytes per context token
    (only KV and RoPE ranges do), as a kernel argument of the launch that
    reads it.
  }];
  let arguments = (ins Gemma_GpuSpace:$space, I64Attr:$offset,
                       DefaultValuedAttr<I64Attr, "0">:$offset_per_ctx,
                       I64Attr:$bytes,
                       DefaultValuedAttr<I64Attr, "0">:$bytes_per_ctx);
  let results = (outs Gemma_GpuBuffer:$result);
  let assemblyFormat = "$space attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Gemma_GpuSlotOp : Gemma_Op<"gpu_slot", [Pure]> {
  let summary = "an activation's arena slot, before placement";
  let description = [{
    The max_batch rows of activation `value` (part `rows`), or the int8
    quants or f32 side values of the !gemma.act_blocks `value`, as a kernel
    argument. gemma-plan-gpu-arena places every slot in the arena and
    replaces these by gemma.gpu_view arena ranges.
  }];
  let arguments = (ins AnyTypeOf<[Gemma_Activation, Gemma_ActBlocksType]>:$value,
                       Gemma_GpuSlotPart:$part);
  let results = (outs Gemma_GpuBuffer:$result);
  let assemblyFormat = "$part $value attr-dict `:` type($value) `->` type($result)";
  let hasVerifier = 1;
}

def Gemma_GpuConstantOp : Gemma_Op<"gpu_constant", [Pure]> {
  let summary = "an f32 program constant (the constants buffer)";
  let arguments = (ins F32Attr:$value);
  let results = (outs Gemma_GpuBuffer:$result);
  let assemblyFormat = "$value attr-dict `:` type($result)";
}

def Gemma_GpuRopeTableOp : Gemma_Op<"gpu_rope_table", [Pure]> {
  let summary = "the (cos, sin) table of a RoPE, filled per session";
  let description = [{
    For every position and rotated pair of `rope`, (cos, sin) as llama.cpp
    computes them. Launches of the same RoPE share one table.
  }];
  let arguments = (ins Gemma_RopeAttr:$rope);
  let results = (outs Gemma_GpuBuffer:$result);
  let assemblyFormat = "$rope attr-dict `:` type($result)";
}

def Gemma_GpuRowsOp : Gemma_Op<"gpu_rows", [Pure]> {
  let summary = "a launch's grid.y: the step's rows in groups of per_group";
  let arguments = (ins Gemma_GpuRows:$rows,
                       DefaultValuedAttr<I64Attr, "1">:$per_group);
  let results = (outs Index:$result);
  let assemblyFormat = "$rows attr-dict";
  let hasVerifier = 1;
}

def Gemma_GpuArenaOp : Gemma_Op<"gpu_arena"> {
  let summary = "the placed arena: its size and where the logits are";
  let description = [{
    Set by gemma-plan-gpu-arena: the whole activation arena (max_batch rows
    of every slot live at once) and the byte offset of the entry's result.
  }];
  let arguments = (ins I64Attr:$bytes, I64Attr:$logits_offset);
  let assemblyFormat = "attr-dict";
}

#endif // GEMMAC_GEMMA_GPU_OPS
