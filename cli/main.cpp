#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "weightbridge/error.h"

int main(int argc, char** argv) {
  // `diff A... -- B...`: turn the separator into an option CLI11 keeps.
  std::vector<std::string> args(argv, argv + argc);
  if (args.size() > 1 && args[1] == "diff")
    for (size_t i = 2; i < args.size(); ++i)
      if (args[i] == "--") {
        args[i] = wbcli::kDiffSeparator;
        break;
      }
  std::vector<const char*> argv2;
  for (const auto& a : args) argv2.push_back(a.c_str());
  int exit_status = 0;
  static const char* const kVerbs[] = {"inspect", "convert", "verify", "run", "diff", "doctor", "demo"};
  if (args.size() > 1 && args[1][0] != '-' &&
      std::none_of(std::begin(kVerbs), std::end(kVerbs), [&](const char* v) { return args[1] == v; })) {
    std::fprintf(stderr, "weightbridge: unknown command '%s' (commands: inspect, convert, verify, run, diff, doctor, demo; see --help)\n",
                 args[1].c_str());
    return 2;
  }
  CLI::App app{"weightbridge: move trained weights between Keras and MXNet, and prove the result"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "weightbridge 0.1.0");
  wbcli::setup_inspect(app);
  wbcli::setup_convert(app, exit_status);
  wbcli::setup_run(app);
  wbcli::setup_demo(app);
  wbcli::setup_diff(app, exit_status);
  wbcli::setup_doctor(app, exit_status);
  wbcli::setup_verify(app, exit_status);
  try {
    app.parse(static_cast<int>(argv2.size()), argv2.data());
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
    std::fflush(stdout);
    std::cout.flush();
    std::fprintf(stderr, "weightbridge: %s\n", e.format().c_str());
    return wb::exit_code(e.kind());
  } catch (const std::filesystem::filesystem_error& e) {  // a directory or file the OS refused: an I/O error on that path
    const std::error_code& ec = e.code();
    std::fprintf(stderr, "weightbridge: %s: %s\n", e.path1().empty() ? "(empty path)" : e.path1().c_str(), ec.message().c_str());
    return 5;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "weightbridge: out of memory\n");
    return 5;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weightbridge: unexpected error: %s\n", e.what());
    return 3;
  }
  return exit_status;
}
