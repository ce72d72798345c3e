// gemmac-jinja-render TEMPLATE_FILE CONTEXT_JSON_FILE: renders a chat
// template with the runtime's Jinja engine and prints the result (exit 1
// and the error on stderr on failure). test/chat compares it with
// python3-jinja2 (test/chat/render_jinja2.py).
#include "runtime/chat/jinja.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

static bool readFile(const char *path, std::string *out) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s TEMPLATE_FILE CONTEXT_JSON_FILE\n", argv[0]);
    return 2;
  }
  std::string source, json, error, out;
  if (!readFile(argv[1], &source) || !readFile(argv[2], &json)) {
    fprintf(stderr, "error: cannot read %s\n", readFile(argv[1], &source) ? argv[2] : argv[1]);
    return 1;
  }
  gemmac::jinja::Value context;
  if (!gemmac::jinja::valueFromJson(json, &context, &error)) {
    fprintf(stderr, "error: %s: %s\n", argv[2], error.c_str());
    return 1;
  }
  std::unique_ptr<gemmac::jinja::Template> t = gemmac::jinja::parseTemplate(source, &error);
  if (!t || !gemmac::jinja::renderTemplate(*t, context, &out, &error)) {
    fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }
  fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
