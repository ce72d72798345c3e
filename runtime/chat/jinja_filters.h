// runtime/chat/jinja_filters.h - Filters over sequences -*- C++ -*-
#pragma once

#include "runtime/chat/jinja_eval.h"

namespace gemmac::jinja::detail {

// length, first, last, list, join, sort, unique, dictsort, items, map,
// select/reject(attr), min, max, sum, reverse, attr.
bool sequenceFilter(Renderer *r, const std::string &name, const Value &v, const Args &a,
                    int line, Scope *scope, Value *out);

// Arguments against the filter's Python signature (jinja_tests.cpp).
bool checkFilterArgs(Renderer *r, const std::string &name, const Args &a, int line);

} // namespace gemmac::jinja::detail
