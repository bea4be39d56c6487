// Cross-check client for `selectloop load`: an independent, single-threaded epoll echo load client
// in C++, used once to confirm that the Node load generator drives an echo server at least as hard
// as a client with no JavaScript in the way. Same load as `selectloop load`: N connections, each
// keeping K messages of SIZE bytes in flight (K = 1 is ping-pong), every echoed byte compared
// (memcmp) with what was sent, a warm-up that is not counted, then a measured window; prints
// msgs/s, MB/s, p50/p99/max latency and errors, plus its own CPU time.
// Build:  g++ -O2 -std=c++17 -o /tmp/echo_client bench/crosscheck/echo_client.cpp
// Run:    node dist/bin/selectloop.js echo --model net --port 0 --quiet      # prints "listening on 127.0.0.1:PORT"
//         /tmp/echo_client 127.0.0.1 PORT CONNS SIZE PIPELINE WARMUP_S DURATION_S
//         node dist/bin/selectloop.js load --target 127.0.0.1:PORT --conns CONNS --size SIZE --pipeline PIPELINE
//              --warmup WARMUP_S --duration DURATION_S                  # the same load, for comparison
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

using Clock = std::chrono::steady_clock;

static double now_us() {
  return std::chrono::duration<double, std::micro>(Clock::now().time_since_epoch()).count();
}

struct Conn {
  int fd = -1;
  bool alive = false;
  size_t send_slot = 0;         // next message slot to send
  size_t recv_off = 0;          // offset in the pattern of the next expected byte
  size_t in_msg = 0;            // bytes of the current message received
  std::vector<double> sent_at;  // ring of send times, oldest at head
  size_t head = 0, tail = 0, inflight = 0;
  size_t pending_write = 0;     // bytes queued but not yet written (kernel buffer full)
  size_t write_off = 0;         // offset in the pattern of the next byte to write
  bool want_out = false;        // registered for EPOLLOUT (only while a write is pending)
};

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: %s HOST PORT CONNS SIZE PIPELINE WARMUP_S DURATION_S\n", argv[0]);
    return 2;
  }
  const char* host = argv[1];
  const int port = atoi(argv[2]);
  const int nconns = atoi(argv[3]);
  const size_t size = strtoul(argv[4], nullptr, 10);
  const size_t pipeline = strtoul(argv[5], nullptr, 10);
  const double warmup_s = atof(argv[6]);
  const double duration_s = atof(argv[7]);

  const size_t slots = 8;
  std::vector<unsigned char> pattern(size * slots);
  std::mt19937 rng(12345);
  for (auto& b : pattern) b = static_cast<unsigned char>(rng());

  int ep = epoll_create1(0);
  std::vector<Conn> conns(nconns);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, host, &addr.sin_addr);
  int connect_failures = 0;
  for (int i = 0; i < nconns; i++) {
    Conn& c = conns[i];
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c.fd < 0 || connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      connect_failures++;
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
      continue;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c.fd, F_SETFL, O_NONBLOCK);
    c.alive = true;
    c.send_slot = i % slots;
    c.recv_off = c.write_off = c.send_slot * size;
    c.sent_at.assign(pipeline, 0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }

  long errors_mismatch = 0, errors_eof = 0, errors_reset = 0;
  auto kill = [&](Conn& c, long& counter) {
    counter++;
    c.alive = false;
    epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
  };
  // Queues `count` messages and writes as much as the kernel takes; the rest waits for EPOLLOUT.
  auto flush = [&](Conn& c, int idx) {
    while (c.pending_write > 0) {
      size_t n = std::min(c.pending_write, pattern.size() - c.write_off);
      ssize_t w = write(c.fd, pattern.data() + c.write_off, n);
      if (w < 0) {
        if (errno == EAGAIN) break;
        kill(c, errors_reset);
        return;
      }
      c.pending_write -= w;
      c.write_off = (c.write_off + w) % pattern.size();
    }
    const bool want_out = c.pending_write > 0;
    if (want_out != c.want_out) {  // epoll_ctl only when the interest changes
      c.want_out = want_out;
      epoll_event ev{};
      ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
      ev.data.u32 = idx;
      epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
    }
  };
  auto send = [&](Conn& c, int idx, size_t count, double t) {
    for (size_t k = 0; k < count; k++) {
      c.sent_at[c.tail] = t;
      c.tail = (c.tail + 1) % pipeline;
    }
    c.inflight += count;
    c.pending_write += count * size;
    flush(c, idx);
  };

  std::vector<double> latencies;
  latencies.reserve(1 << 22);
  bool measuring = false;
  long messages = 0;
  double t_start = now_us();
  for (int i = 0; i < nconns; i++)
    if (conns[i].alive) send(conns[i], i, pipeline, t_start);
  const double t_measure = t_start + warmup_s * 1e6;
  const double t_end = t_measure + duration_s * 1e6;
  rusage ru0{};
  std::vector<unsigned char> buf(65536);
  std::vector<epoll_event> events(1024);
  for (;;) {
    double t = now_us();
    if (!measuring && t >= t_measure) {
      measuring = true;
      getrusage(RUSAGE_SELF, &ru0);
    }
    if (t >= t_end) break;
    int n = epoll_wait(ep, events.data(), events.size(), 10);
    t = now_us();
    for (int e = 0; e < n; e++) {
      int idx = events[e].data.u32;
      Conn& c = conns[idx];
      if (!c.alive) continue;
      if (events[e].events & EPOLLOUT) flush(c, idx);
      if (!c.alive || !(events[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      ssize_t r = read(c.fd, buf.data(), buf.size());
      if (r == 0) { kill(c, errors_eof); continue; }
      if (r < 0) { if (errno != EAGAIN) kill(c, errors_reset); continue; }
      size_t pos = 0;
      bool bad = false;
      while (pos < static_cast<size_t>(r)) {
        size_t m = std::min(static_cast<size_t>(r) - pos, pattern.size() - c.recv_off);
        if (memcmp(buf.data() + pos, pattern.data() + c.recv_off, m) != 0) { bad = true; break; }
        pos += m;
        c.recv_off = (c.recv_off + m) % pattern.size();
      }
      if (bad) { kill(c, errors_mismatch); continue; }
      size_t whole = c.in_msg + r;
      size_t done = whole / size;
      c.in_msg = whole % size;
      for (size_t k = 0; k < done; k++) {
        if (measuring) latencies.push_back(t - c.sent_at[c.head]);
        c.head = (c.head + 1) % pipeline;
      }
      if (measuring) messages += done;
      c.inflight -= done;
      if (done) send(c, idx, done, t);
    }
  }
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);
  auto tv = [](const timeval& v) { return v.tv_sec * 1e6 + v.tv_usec; };
  double cpu_us = tv(ru1.ru_utime) - tv(ru0.ru_utime) + tv(ru1.ru_stime) - tv(ru0.ru_stime);
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    if (latencies.empty()) return 0.0;
    size_t i = std::min(latencies.size() - 1, static_cast<size_t>(p / 100.0 * latencies.size()));
    return latencies[i] / 1000.0;
  };
  printf("crosscheck -> %s:%d: %d connections x %zu B, %zu in flight each; warm-up %.1f s, measured %.2f s\n",
         host, port, nconns, size, pipeline, warmup_s, duration_s);
  printf("  throughput   %.0f msgs/s   %.2f MB/s echoed   (%ld messages verified)\n", messages / duration_s,
         messages * size / duration_s / 1e6, messages);
  printf("  latency      p50 %.2f ms   p99 %.2f ms   max %.2f ms\n", pct(50), pct(99),
         latencies.empty() ? 0.0 : latencies.back() / 1000.0);
  printf("  errors       mismatch %ld, eof %ld, reset %ld; connect failures %d\n", errors_mismatch, errors_eof,
         errors_reset, connect_failures);
  printf("  client CPU   %.1f%% of one core\n", cpu_us / (duration_s * 1e6) * 100);
  return 0;
}
