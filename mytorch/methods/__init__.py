"""Tensor's methods, one module per group; `mytorch.tensor.Tensor` inherits each group's class.

    arithmetic   operators, add/sub/mul/div/pow, clamp, where, matmul and friends, add_, ...
    math         the unary table's methods (exp, sin, ...), sign, round, softmax
    comparison   ==, <, &, isnan, logical_*, any/all, equal, allclose: no gradient
    reduction    sum, mean, var, max, argmax, cumsum, sort, topk, median, ...
    shape        reshape, view, permute, expand, squeeze, flip, split, diagonal, ...
    indexing     t[key], t[key] = v, gather, scatter, index_*, masked_*, tril/triu
    creation     new_zeros, new_full, ..., and the random fills (uniform_, normal_, ...)

A method checks nothing the op it calls checks: it forwards to a Function or to the public
function of its family in `mytorch.ops`.
"""
