// This ISA's kernel table (one per compiled copy of the kernel sources; see kernels.h).
#include "isa.h"

#define PIPE_STR2(x) #x
#define PIPE_STR(x) PIPE_STR2(x)

namespace pipe {
namespace PIPE_ISA {

const Kernels table = {
    PIPE_STR(PIPE_ISA), matmul, conv2d, conv2d_backprop_input, conv2d_backprop_filter, group_norm, group_norm_grad,
    silu, silu_grad, upsample2x, upsample2x_grad, adam, sum_middle, binary_bcast, copy_strided, linear, linear_grad,
    trig, clip,
};

}  // namespace PIPE_ISA
}  // namespace pipe
