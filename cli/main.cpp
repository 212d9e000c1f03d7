#include <cstdio>
#include <exception>

#include "commands.h"
#include "weightbridge/error.h"

int main(int argc, char** argv) {
  CLI::App app{"weightbridge: move trained weights between Keras and MXNet, and prove the result"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "weightbridge 0.1.0");
  wbcli::setup_inspect(app);
  wbcli::setup_convert(app);
  wbcli::setup_run(app);
  wbcli::setup_demo(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "weightbridge: %s (see --help)\n", e.what());
    return 2;
  } catch (const wb::Error& e) {
    std::fprintf(stderr, "weightbridge: %s\n", e.format().c_str());
    return wb::exit_code(e.kind());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "weightbridge: out of memory\n");
    return 5;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weightbridge: unexpected error: %s\n", e.what());
    return 3;
  }
  return 0;
}
