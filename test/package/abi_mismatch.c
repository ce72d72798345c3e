/* Opens the model of a library whose program table may have been altered
 * (abi-mismatch.sh); prints the runtime's message. Exit 0: refused cleanly
 * with a message; 3: opened. Also: NULL, a table without the magic, and
 * gemmac_model_open in a process without a program's built-in model. */
#include <gemmac.h>

#include "mdl.h"

#include <stdio.h>
#include <string.h>

int main(void) {
  static const unsigned char junk[256];
  if (gemmac_model_open(NULL, 1) || !strstr(gemmac_last_error(), "no model compiled into it"))
    return 6;
  if (gemmac_model_open_program(NULL, NULL, NULL) ||
      !strstr(gemmac_last_error(), "NULL"))
    return 4;
  if (gemmac_model_open_program((const gemmac_program *)junk, NULL, NULL) ||
      !strstr(gemmac_last_error(), "bad magic"))
    return 5;
  gemmac_model *m = gemmac_model_open_program(mdl_program(), NULL, NULL);
  if (m) {
    gemmac_model_close(m);
    return 3;
  }
  printf("%s\n", gemmac_last_error());
  return 0;
}
