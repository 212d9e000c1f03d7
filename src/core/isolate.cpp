#include "core/isolate.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "weightbridge/error.h"

// Sanitizer runtimes (the ASan test build, the fuzzers) call this slot when they report; the
// child clears it so a report inside the child is not also taken for a fault of the parent.
extern "C" void __sanitizer_set_death_callback(void (*)(void)) __attribute__((weak));

namespace wb {

namespace {

constexpr uint64_t kFloor = 384ull << 20;  // new mappings any file may use: HDF5 caches, metadata, buffers

// The address space the process has mapped now (VmSize), from /proc/self/statm.
uint64_t mapped_bytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t pages = 0;
  if (!(in >> pages)) return 0;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

bool write_all(int fd, const void* p, size_t n) {
  const auto* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void put_string(std::string& out, const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  out.append(reinterpret_cast<const char*>(&n), sizeof n);
  out += s;
}

bool get_string(const std::string& in, size_t& pos, std::string& s) {
  uint32_t n = 0;
  if (in.size() - pos < sizeof n) return false;
  std::memcpy(&n, in.data() + pos, sizeof n);
  pos += sizeof n;
  if (in.size() - pos < n) return false;
  s.assign(in, pos, n);
  pos += n;
  return true;
}

// Report codes written as the first byte of the child's message.
constexpr char kOk = 'k';
constexpr char kError = 'e';
constexpr char kNoMemory = 'm';

[[noreturn]] void child(const std::function<void()>& body, const IsolationLimits& limits, int fd) {
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGXCPU}) {
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    ::sigaction(sig, &sa, nullptr);
  }
  const int devnull = ::open("/dev/null", O_WRONLY);
  if (devnull >= 0) ::dup2(devnull, STDERR_FILENO);
  // Limits only ever tighten what the child inherited (a `ulimit -v` of the caller stays).
  const auto tighten = [](int resource, rlim_t cur, rlim_t max) {
    struct rlimit now {};
    if (::getrlimit(resource, &now) != 0) return;
    struct rlimit want {};
    want.rlim_cur = std::min(now.rlim_cur, cur);
    want.rlim_max = std::min(now.rlim_max, max);
    want.rlim_cur = std::min(want.rlim_cur, want.rlim_max);
    ::setrlimit(resource, &want);
  };
  const rlim_t as = mapped_bytes() + limits.extra_address_space;
  tighten(RLIMIT_AS, as, as);
  tighten(RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 5);

  std::string msg;
  try {
    body();
    msg = kOk;
  } catch (const Error& e) {
    msg = kError;
    msg += static_cast<char>(e.kind());
    put_string(msg, e.message());
    put_string(msg, e.file());
    put_string(msg, e.where());
  } catch (const std::bad_alloc&) {
    msg = kNoMemory;
  } catch (...) {
    ::_exit(2);  // anything else is a fault: reported by the parent like a crash
  }
  ::_exit(write_all(fd, msg.data(), msg.size()) ? 0 : 2);
}

// Resident memory of a process in bytes (/proc/PID/statm), 0 when unknown.
uint64_t resident_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

enum class Stop { None, Time, Memory };

// Reads the child's report until it closes the pipe. Meanwhile the child is watched: past the
// wall-clock deadline (a child that sleeps, e.g. deadlocked, never reaches its CPU-time limit), or
// past `max_resident` bytes of resident memory (the address-space limit does not hold where the
// allocator maps from a region reserved before the fork, as AddressSanitizer's does), *stop says
// which.
std::string read_report(int fd, pid_t pid, std::chrono::steady_clock::time_point deadline, uint64_t max_resident, Stop* stop) {
  std::string out;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      *stop = Stop::Time;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 100)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      if (resident_bytes(pid) > max_resident) {
        *stop = Stop::Memory;
        break;
      }
      continue;
    }
    const ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
    if (out.size() > (1u << 20)) break;  // an error message is never this long
  }
  return out;
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    if (sig == SIGXCPU || sig == SIGKILL) return "ran out of its CPU-time limit";
    const char* name = ::strsignal(sig);
    return std::string("crashed (") + (name ? name : "signal " + std::to_string(sig)) + ")";
  }
  if (WIFEXITED(status)) return "stopped with status " + std::to_string(WEXITSTATUS(status));
  return "stopped";
}

}  // namespace

IsolationLimits limits_for_file(uint64_t file_size) {
  return IsolationLimits{kFloor + 2 * file_size, static_cast<unsigned>(60 + file_size / 20'000'000)};
}

bool isolation_enabled() {
  const char* v = std::getenv("WB_ISOLATE");
  return !(v && std::strcmp(v, "0") == 0);
}

void run_isolated(const std::function<void()>& body, const IsolationLimits& limits, const std::string& file,
                  const std::string& parser) {
  if (!isolation_enabled()) {
    body();
    return;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) fail(ErrorKind::Io, "cannot create a pipe for the isolated reader", file);
  std::fflush(nullptr);
  const uint64_t max_resident = resident_bytes(::getpid()) + limits.extra_address_space;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    fail(ErrorKind::Io, std::string("cannot start the isolated reader: ") + std::strerror(errno), file);
  }
  if (pid == 0) {
    ::close(fds[0]);
    child(body, limits, fds[1]);
  }
  ::close(fds[1]);
  Stop stop = Stop::None;
  const auto wall = std::chrono::seconds(limits.wall_seconds ? uint64_t{limits.wall_seconds} : 2 * uint64_t{limits.cpu_seconds} + 30);
  const std::string report = read_report(fds[0], pid, std::chrono::steady_clock::now() + wall, max_resident, &stop);
  ::close(fds[0]);
  if (stop != Stop::None) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (stop == Stop::Memory)
    fail(ErrorKind::Malformed,
         "reading it needs more memory than the file's size justifies (" + std::to_string(limits.extra_address_space >> 20) +
             " MiB allowed): damaged or crafted structures",
         file);
  if (stop == Stop::Time)
    fail(ErrorKind::Malformed,
         parser + " did not finish within " + std::to_string(wall.count()) +
             " s (wall clock) reading this file in weightbridge's isolated reader process: damaged or crafted structures",
         file);
  const bool clean_exit = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (clean_exit && report.size() == 1 && report[0] == kOk) return;
  if (clean_exit && report.size() >= 2 && report[0] == kError && report[1] >= 0 &&
      report[1] <= static_cast<char>(ErrorKind::Io)) {
    const auto kind = static_cast<ErrorKind>(report[1]);
    size_t pos = 2;
    std::string message, efile, where;
    if (get_string(report, pos, message) && get_string(report, pos, efile) && get_string(report, pos, where))
      throw Error(kind, message, efile, where);
  }
  if (clean_exit && report.size() == 1 && report[0] == kNoMemory)
    fail(ErrorKind::Malformed,
         "reading it needs more memory than the file's size justifies (" +
             std::to_string(limits.extra_address_space >> 20) + " MiB allowed): damaged or crafted structures",
         file);
  fail(ErrorKind::Malformed,
       parser + " " + describe(status) +
           " reading this file in weightbridge's isolated reader process: damaged or crafted structures",
       file);
}

}  // namespace wb
