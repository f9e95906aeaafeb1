// The board, for the host: clock, consoles, the network stack and async_tcp task, the database,
// the task watchdog and the reset that follows it. Everything here is thread-safe; the only
// unsynchronised sharing in the program is the firmware's own.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "Arduino.h"
#include "DatabaseLogger.h"
#include "ESPAsyncWebServer.h"

void setup();
void loop();

namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point kBoot = Clock::now();
std::mutex gSerialMutex;  // the UART driver's lock: whole lines, never interleaved
std::atomic<uint32_t> gLastHilSeq{0};
char** gArgv = nullptr;
std::string gBug;
bool gWdtReset = false;

int64_t nowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - kBoot).count(); }

void writeLine(const char* text) {
  std::lock_guard<std::mutex> g(gSerialMutex);
  std::fputs(text, stdout);
  std::fputs("\r\n", stdout);
  std::fflush(stdout);
  unsigned seq;
  if (std::sscanf(text, "HIL %u ", &seq) == 1) gLastHilSeq.store(seq);
}

// ---- Serial2: the Pi's UART, one line per stdin line -------------------------------------------
std::mutex gRxMutex;
std::deque<std::string> gRx;
constexpr size_t kRxLines = 16;  // the RX buffer; the Pi's lines beyond it are lost, as on the chip

void uartReader() {
  std::string line;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EOF: the bench went away; the board keeps running until killed
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n') {
        std::lock_guard<std::mutex> g(gRxMutex);
        if (gRx.size() < kRxLines) gRx.push_back(line);
        line.clear();
      } else if (buf[i] != '\r') {
        line += buf[i];
      }
    }
  }
}

// ---- the task watchdog -------------------------------------------------------------------------
// The idle task on the async_tcp core feeds the watchdog whenever that core has nothing to do.
// "Busy" is what the firmware's handlers hold the core for: their CPU time, plus a synchronous
// database write (a blocking driver call on the chip). A host that merely deschedules the
// thread does not starve the ESP's idle task, so a loaded machine cannot fire it.
int64_t wdtTimeoutMs() {
  const char* e = std::getenv("HIL_ESP_WDT_MS");
  return e ? std::atoll(e) : 300;  // the chip's default is 5 s; scaled down like the sim's
}
std::atomic<int64_t> gHeldNs{0};
std::atomic<int64_t> gFedAtNs{0};
std::atomic<int64_t> gHeldAtFeed{0};
std::atomic<bool> gAsyncIdle{true};
thread_local bool tOnAsyncTcp = false;

void feed() {
  gHeldAtFeed.store(gHeldNs.load());
  gFedAtNs.store(nowNs());
}

int64_t threadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void panicAndReboot(int64_t starvedNs) {
  char e[64];
  int64_t tUs = esp_timer_get_time();
  std::snprintf(e, sizeof e, "E (%lld) task_wdt: ", (long long)(tUs / 1000));
  std::string p(e);
  {
    std::lock_guard<std::mutex> g(gSerialMutex);  // held to the end: nothing else prints
    const std::string lines[] = {
        p + "Task watchdog got triggered. The following tasks did not reset the watchdog in time:",
        p + " - IDLE (CPU 1)", p + "Tasks currently running:", p + "CPU 0: IDLE", p + "CPU 1: async_tcp",
        p + "Aborting.",
        "HIL " + std::to_string(gLastHilSeq.load() + 1) + " " + std::to_string(tUs) +
            " wdt task=IDLE1 running=async_tcp starved_us=" + std::to_string(starvedNs / 1000),
        "", "abort() was called at PC 0x400d9a3b on core 1", "",
        "Backtrace: 0x40083a1d:0x3ffbe9f0 0x4008c1e5:0x3ffbea10 0x400d9a3b:0x3ffbea30", "", "Rebooting..."};
    for (const auto& l : lines) std::printf("%s\r\n", l.c_str());
    std::fflush(stdout);
    // The chip resets: the program starts again from the top (sockets are close-on-exec).
    setenv("HIL_ESP_RESET", "wdt", 1);
    execv("/proc/self/exe", gArgv);
    std::perror("execv /proc/self/exe");
  }
  std::_Exit(70);
}

void watchdogTask() {
  const int64_t timeoutNs = wdtTimeoutMs() * 1000000;
  int strikes = 0;
  feed();
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (gAsyncIdle.load()) feed();
    int64_t starved = nowNs() - gFedAtNs.load();
    int64_t held = gHeldNs.load() - gHeldAtFeed.load();
    strikes = (starved > timeoutNs && held * 2 >= starved) ? strikes + 1 : 0;
    if (strikes >= 2) panicAndReboot(starved);
  }
}

// ---- network + async_tcp -----------------------------------------------------------------------
constexpr size_t kBodyLimit = 1024;  // ESPAsyncWebServer keeps small request buffers
std::mutex gReqMutex;
std::condition_variable gReqCv;
std::deque<AsyncWebServerRequest*> gReqs;
int gListenFd = -1;
AsyncWebServer* gServer = nullptr;

String lower(String s) {
  for (auto& c : s) c = char(std::tolower((unsigned char)c));
  return s;
}

void rawReply(int fd, int code, const char* text) {
  char out[256];
  int n = std::snprintf(out, sizeof out, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                        code, code == 413 ? "Payload Too Large" : "Bad Request", std::strlen(text), text);
  (void)!::write(fd, out, size_t(n));
}

struct Conn {
  int fd;
  std::string buf;
};

// Parse a complete request out of c.buf: 1 done, 0 need more, -1 refused (answered).
int parseRequest(Conn& c, AsyncWebServerRequest*& out) {
  size_t he = c.buf.find("\r\n\r\n");
  if (he == std::string::npos) {
    if (c.buf.size() > 8192) { rawReply(c.fd, 400, "{\"error\":\"headers too large\"}"); return -1; }
    return 0;
  }
  auto* r = new AsyncWebServerRequest();
  r->fd = c.fd;
  size_t pos = c.buf.find("\r\n");
  std::string first = c.buf.substr(0, pos);
  size_t s1 = first.find(' '), s2 = first.find(' ', s1 + 1);
  if (s1 == std::string::npos || s2 == std::string::npos) { delete r; rawReply(c.fd, 400, "{\"error\":\"bad request line\"}"); return -1; }
  r->methodText = first.substr(0, s1);
  r->url_ = first.substr(s1 + 1, s2 - s1 - 1);
  size_t q = r->url_.find('?');
  if (q != std::string::npos) r->url_.resize(q);
  r->method_ = r->methodText == "POST" ? HTTP_POST : HTTP_GET;
  size_t len = 0;
  pos += 2;
  while (pos < he) {
    size_t eol = c.buf.find("\r\n", pos);
    std::string h = c.buf.substr(pos, eol - pos);
    size_t colon = h.find(':');
    if (colon != std::string::npos) {
      std::string v = h.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
      r->headers.emplace_back(h.substr(0, colon), v);
      if (lower(h.substr(0, colon)) == "content-length") len = size_t(std::strtoul(v.c_str(), nullptr, 10));
    }
    pos = eol + 2;
  }
  if (len > kBodyLimit) {
    delete r;
    char msg[96];
    std::snprintf(msg, sizeof msg, "{\"error\":\"body is larger than %zu bytes\"}", kBodyLimit);
    rawReply(c.fd, 413, msg);
    return -1;
  }
  if (c.buf.size() < he + 4 + len) { delete r; return 0; }
  r->body = c.buf.substr(he + 4, len);
  out = r;
  return 1;
}

// lwIP's side: accept connections and read whole requests, then hand them to async_tcp.
void networkTask() {
  std::vector<Conn> conns;
  for (;;) {
    std::vector<pollfd> fds{{gListenFd, POLLIN, 0}};
    for (auto& c : conns) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
      int fd = ::accept4(gListenFd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) conns.push_back({fd, {}});
    }
    for (size_t i = 1; i < fds.size(); i++) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Conn& c = conns[i - 1];
      char buf[2048];
      ssize_t n = ::read(c.fd, buf, sizeof buf);
      int st = -1;
      AsyncWebServerRequest* r = nullptr;
      if (n > 0) {
        c.buf.append(buf, size_t(n));
        st = parseRequest(c, r);
        if (st == 0) continue;
      }
      if (st == 1) {
        std::lock_guard<std::mutex> g(gReqMutex);
        gReqs.push_back(r);
        gReqCv.notify_one();
      } else {
        ::close(c.fd);
      }
      c.fd = -1;
    }
    conns.erase(std::remove_if(conns.begin(), conns.end(), [](const Conn& c) { return c.fd < 0; }), conns.end());
  }
}

void dispatch(AsyncWebServerRequest* r) {
  for (auto& rt : gServer->routes) {
    if (rt.uri != r->url()) continue;
    if (rt.method != r->method()) {
      r->extraHeaders["Allow"] = rt.method == HTTP_POST ? "POST" : "GET";
      r->send(405, "application/json", "{\"error\":\"" + rt.uri + " takes " + (rt.method == HTTP_POST ? "POST" : "GET") + ", got " + r->methodText + "\"}");
      return;
    }
    if (rt.onBody && !r->body.empty()) rt.onBody(r, (uint8_t*)r->body.data(), r->body.size(), 0, r->body.size());
    rt.onRequest(r);
    return;
  }
  if (gServer->notFound_) gServer->notFound_(r);
}

void asyncTcpTask() {
  tOnAsyncTcp = true;
  for (;;) {
    AsyncWebServerRequest* r;
    {
      std::unique_lock<std::mutex> lk(gReqMutex);
      if (gReqs.empty()) {
        gAsyncIdle.store(true);
        feed();  // the core ran out of work: IDLE runs
        gReqCv.wait(lk, [] { return !gReqs.empty(); });
        gAsyncIdle.store(false);
      }
      r = gReqs.front();
      gReqs.pop_front();
    }
    int64_t c0 = threadCpuNs();
    dispatch(r);
    if (!r->sent) r->send(500, "application/json", "{\"error\":\"handler sent no response\"}");
    gHeldNs.fetch_add(threadCpuNs() - c0);
    ::close(r->fd);
    delete r;
  }
}

}  // namespace

// ---- Arduino API -------------------------------------------------------------------------------
HardwareSerial Serial(0);
HardwareSerial Serial2(2);

int64_t esp_timer_get_time() { return nowNs() / 1000; }
unsigned long millis() { return (unsigned long)(nowNs() / 1000000); }
void delay(unsigned long ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }
const char* hostBug() { return gBug.c_str(); }
esp_reset_reason_t esp_reset_reason() { return gWdtReset ? ESP_RST_TASK_WDT : ESP_RST_POWERON; }

void HardwareSerial::begin(unsigned long) {}
void HardwareSerial::println(const char* s) { writeLine(s); }
void HardwareSerial::printf(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  size_t n = std::strlen(buf);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
  writeLine(buf);
}
int HardwareSerial::available() {
  std::lock_guard<std::mutex> g(gRxMutex);
  return gRx.empty() ? 0 : int(gRx.front().size() + 1);
}
String HardwareSerial::readStringUntil(char) {
  std::lock_guard<std::mutex> g(gRxMutex);
  if (gRx.empty()) return String();
  String s = gRx.front();
  gRx.pop_front();
  return s;
}

bool AsyncWebServerRequest::hasHeader(const char* name) const { return getHeader(name) != nullptr; }
const AsyncWebHeader* AsyncWebServerRequest::getHeader(const char* name) const {
  String want = lower(name);
  for (auto& h : headers)
    if (lower(h.name()) == want) return &h;
  return nullptr;
}
const String& AsyncWebServerRequest::contentType() const {
  static const String none;
  auto* h = getHeader("Content-Type");
  return h ? h->value() : none;
}
void AsyncWebServerRequest::send(int code, const char* type, const String& body) {
  if (sent) return;
  sent = true;
  const char* reason = code == 200 ? "OK" : code == 202 ? "Accepted" : code == 404 ? "Not Found" : code == 405 ? "Method Not Allowed"
                       : code == 503 ? "Service Unavailable" : code == 400 ? "Bad Request" : "Error";
  std::string out = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n";
  for (auto& [k, v] : extraHeaders) out += k + ": " + v + "\r\n";
  out += "\r\n" + body;
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the client went away
    off += size_t(n);
  }
}

AsyncWebServer::AsyncWebServer(uint16_t port) : port_(port) {
  const char* e = std::getenv("HIL_HTTP_PORT");
  if (e) port_ = uint16_t(std::atoi(e));
}
void AsyncWebServer::on(const char* uri, WebRequestMethod method, ArRequestHandlerFunction onRequest, ArRequestHandlerFunction,
                        ArBodyHandlerFunction onBody) {
  routes.push_back({uri, method, std::move(onRequest), std::move(onBody)});
}
bool AsyncWebServer::begin() {
  gServer = this;
  gListenFd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(gListenFd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port_);
  const char* host = std::getenv("HIL_HTTP_HOST");
  inet_pton(AF_INET, host ? host : "127.0.0.1", &a.sin_addr);
  // After a reset the previous life's socket may still be closing.
  for (int i = 0; ::bind(gListenFd, (sockaddr*)&a, sizeof a) != 0; i++) {
    if (errno != EADDRINUSE || i > 40) return false;
    delay(50);
  }
  if (::listen(gListenFd, 64) != 0) return false;
  socklen_t al = sizeof a;
  getsockname(gListenFd, (sockaddr*)&a, &al);
  port_ = ntohs(a.sin_port);
  std::thread(networkTask).detach();
  std::thread(asyncTcpTask).detach();
  return true;
}

int64_t DatabaseLogger::write(const char*, const char*) {
  static std::mutex m;
  static std::mt19937 rng(uint32_t(std::random_device{}()));
  int ms;
  {
    std::lock_guard<std::mutex> g(m);
    ms = 20 + int(rng() % 21);
  }
  int64_t t0 = nowNs();
  delay(ms);
  int64_t dt = nowNs() - t0;
  if (tOnAsyncTcp) gHeldNs.fetch_add(dt);  // a blocking driver call: the task holds its core
  return dt / 1000;
}

int main(int argc, char** argv) {
  gArgv = argv;
  for (int i = 1; i < argc; i++)
    if (std::strcmp(argv[i], "--bug") == 0 && i + 1 < argc) gBug = argv[++i];
  if (gBug.empty() && std::getenv("HIL_ESP_BUG")) gBug = std::getenv("HIL_ESP_BUG");
  const char* reset = std::getenv("HIL_ESP_RESET");
  bool wdt = reset && std::strcmp(reset, "wdt") == 0;
  gWdtReset = wdt;
  unsetenv("HIL_ESP_RESET");
  writeLine("ets Jul 29 2019 12:21:46");
  writeLine("");
  writeLine(wdt ? "rst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)" : "rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)");
  writeLine("mode:DIO, clock div:1");
  writeLine("entry 0x400805e4");
  std::thread(uartReader).detach();
  std::thread(watchdogTask).detach();
  setup();
  for (;;) loop();
}
