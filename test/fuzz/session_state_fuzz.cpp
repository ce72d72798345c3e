// libFuzzer harness: a session state (runtime/src/state_format.h) loaded
// into a session of a small fake model (test/unit/fake_program.h) through
// gemmac_session_state_load. The first byte picks how the rest is used:
//   even: as it is (the size and checksum checks must refuse damage);
//   odd:  re-sealed (total bytes and checksum rewritten to match), so that
//         damage reaches the field checks behind them.
// A state the session takes must save back to the same bytes, and the
// session must evaluate and sample from it.
#include "runtime/src/state_format.h"
#include "test/unit/fake_program.h"

#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  static gemmac_model *model = fake::newModel();
  static gemmac_session *session = gemmac_session_new(model, 32);
  std::vector<uint8_t> state(data + 1, data + size);
  if ((data[0] & 1) && state.size() >= gemmac::rt::state::kHeaderBytes) {
    const uint64_t total = state.size();
    std::memcpy(state.data() + 16, &total, 8);
    gemmac::rt::state::seal(state.data(), total);
  }
  gemmac_session_reset(session);
  if (gemmac_session_state_load(session, state.data(), state.size()) != 0)
    return 0;
  std::vector<uint8_t> again(gemmac_session_state_size(session));
  if (again.size() != state.size() ||
      gemmac_session_state_save(session, again.data(), again.size()) != again.size() ||
      again != state)
    std::abort(); // a state taken must be the state saved
  gemmac_sampler_params p = gemmac_sampler_defaults();
  p.repeat_penalty = 1.5f;
  p.penalty_last_n = -1;
  if (const float *logits = gemmac_session_logits(session))
    (void)gemmac_sample(session, logits, &p);
  if (gemmac_session_position(session) < gemmac_session_context(session)) {
    const gemmac_token t = 1;
    std::vector<float> logits(fake::kVocab);
    if (gemmac_session_eval(session, &t, 1, logits.data(), 0) != 0)
      std::abort();
    (void)gemmac_sample(session, logits.data(), &p);
  }
  return 0;
}
