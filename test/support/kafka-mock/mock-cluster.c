/*
 * A Kafka-protocol broker stand-in for tests: librdkafka's mock cluster (rdkafka_mock.h, Debian's
 * librdkafka-dev 2.0.2) behind a line protocol. Built by scripts/ensure-test-deps.mjs into
 * dist/test/support/kafka-mock/mock-cluster and driven by test/support/kafka-mock.ts.
 *
 *   mock-cluster [--brokers N] [--topic NAME:PARTITIONS[:REPLICATION]]... [--debug]
 *
 * Brokers have ids 1..N and listen on 127.0.0.1, ephemeral ports. Topics are created here: the
 * mock does not implement CreateTopics (it does auto-create, with 4 partitions, any topic a client
 * asks metadata for, whatever the client's AllowAutoTopicCreation). In 2.0.2 the replication factor
 * is accepted but ignored: every partition's replicas (and ISR) are brokers 1..min(N,3). The mock
 * picks leaders at random; topics created here get them round-robin instead, for repeatable tests:
 * partition p is led by broker (p mod min(N,3)) + 1. Once up, one JSON line goes to stdout:
 *
 *   {"event":"ready","bootstrap":"127.0.0.1:p1,127.0.0.1:p2,...","brokers":N}
 *
 * Then one command a line on stdin, one JSON line answered for each, in order:
 * {"ok":true} or {"ok":false,"error":"..."}.
 *
 *   ping
 *   down <brokerId|-1>                 disconnect the broker, refuse new connections (no leader change)
 *   up <brokerId|-1>                   accept connections again
 *   rtt <brokerId|-1> <ms>             delay every response of the broker
 *   rack <brokerId|-1> <rack>          rack reported in Metadata
 *   error <apiKey> <errorCode> <count> the next <count> requests of <apiKey>, to any broker, fail
 *                                      with <errorCode> (-195, _TRANSPORT: the broker disconnects)
 *   broker-error <brokerId> <apiKey> <errorCode> <count> [rttMs]
 *                                      the same for one broker, optionally delaying each response
 *   clear <apiKey>                     drop the cluster-wide errors still queued for <apiKey>
 *   leader <topic> <partition> <brokerId|-1>
 *                                      move the leader (-1: none; Metadata then says leader -1 with
 *                                      error 0); creates the topic if absent
 *   follower <topic> <partition> <brokerId>
 *                                      preferred read replica
 *   topic-error <topic> <errorCode>    error returned for the topic in Metadata (0 clears)
 *   coordinator <group|transaction> <key> <brokerId>
 *   create <topic> <partitions> <replication>   (leaders round-robin, as at start)
 *   quit                               answer, then exit
 *
 * Exits 0 when stdin closes (so it never outlives the process driving it), on quit and on
 * SIGTERM/SIGINT/SIGHUP; 2 on bad arguments, 1 if the cluster cannot start.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 64
#define LINE_MAX_LEN 4096

static volatile sig_atomic_t stop_signal = 0;
static rd_kafka_mock_cluster_t *mcluster;

static long broker_cnt = 3;

/*
 * Calls into the mock cluster are ops the mock thread serves when its poll() wakes up. In 2.0.2
 * the wake-up is lost when an op is queued right after the previous one was answered (the mock
 * thread drains the wake-up pipe after serving the queue), and the op then waits for the mock's
 * 1 s poll timeout. So: a short pause after every op, and a watchdog thread that, while an op has
 * been pending for 20 ms, wakes the mock thread by connecting to a broker that is up (a new
 * connection makes its poll() return, and it serves its ops on every return).
 */
static int ports[100];
static _Atomic int up_flags[100];
static _Atomic long long op_started_ms = 0; /* 0: no op pending */

static long long mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void op_begin(void) { atomic_store(&op_started_ms, mono_ms()); }

static rd_kafka_resp_err_t op_end(rd_kafka_resp_err_t err) {
  atomic_store(&op_started_ms, 0);
  usleep(1000);
  return err;
}

/* Wraps one call into the mock cluster (OP for calls returning an error code, OPV for void ones). */
#define OP(call) (op_begin(), op_end(call))
#define OPV(call) (op_begin(), (call), op_end(RD_KAFKA_RESP_ERR_NO_ERROR))

static int poke(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static void *watchdog(void *arg) {
  (void)arg;
  for (;;) {
    usleep(10000);
    long long started = atomic_load(&op_started_ms);
    if (!started || mono_ms() - started < 20) continue;
    for (int i = 0; i < broker_cnt; i++)
      if (atomic_load(&up_flags[i]) && poke(ports[i])) break;
  }
  return NULL;
}

/* Tracks which brokers accept connections, for the watchdog. */
static void mark_up(long id, int up) {
  for (int i = 0; i < broker_cnt; i++)
    if (id == -1 || id == i + 1) atomic_store(&up_flags[i], up);
}

/* Creates a topic with leaders round-robin over its replicas (brokers 1..min(N,3)). */
static rd_kafka_resp_err_t create_topic(const char *name, int partitions, int replication) {
  rd_kafka_resp_err_t err = OP(rd_kafka_mock_topic_create(mcluster, name, partitions, replication));
  int replicas = broker_cnt < 3 ? (int)broker_cnt : 3;
  for (int p = 0; !err && p < partitions; p++) err = OP(rd_kafka_mock_partition_set_leader(mcluster, name, p, p % replicas + 1));
  return err;
}

static void on_signal(int sig) { stop_signal = sig; }

/* Writes `s` as a JSON string body (no quotes). */
static void json_str(FILE *out, const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", out);
    else if (c < 0x20)
      fprintf(out, "\\u%04x", c);
    else
      fputc(c, out);
  }
}

static void reply_ok(void) {
  fputs("{\"ok\":true}\n", stdout);
  fflush(stdout);
}

static void reply_err(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fputs("{\"ok\":false,\"error\":\"", stdout);
  json_str(stdout, msg);
  fputs("\"}\n", stdout);
  fflush(stdout);
}

/* Answers for a librdkafka result code. */
static void reply_rd(const char *what, rd_kafka_resp_err_t err) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    reply_ok();
  else
    reply_err("%s: %s (%s)", what, rd_kafka_err2name(err), rd_kafka_err2str(err));
}

/* Strict base-10 integer in [lo, hi]. */
static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  long v;
  if (!s || !*s) return 0;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

#define ARG_INT(idx, lo, hi, var, name)                                             \
  long var;                                                                         \
  if (!parse_int(argv[idx], lo, hi, &var)) {                                        \
    reply_err("%s: bad %s '%s'", argv[0], name, argv[idx] ? argv[idx] : "(missing)"); \
    return;                                                                         \
  }

static void command(char *line) {
  char *argv[8] = {0};
  int argc = 0;
  for (char *tok = strtok(line, " \t\r"); tok && argc < 8; tok = strtok(NULL, " \t\r")) argv[argc++] = tok;
  if (argc == 0) {
    reply_err("empty command");
    return;
  }
  const char *cmd = argv[0];
#define NEED(n, usage)                                   \
  if (argc != (n)) {                                     \
    reply_err("usage: %s", usage);                       \
    return;                                              \
  }
  if (!strcmp(cmd, "ping")) {
    NEED(1, "ping");
    reply_ok();
  } else if (!strcmp(cmd, "down")) {
    NEED(2, "down <brokerId|-1>");
    ARG_INT(1, -1, INT_MAX, id, "broker id");
    rd_kafka_resp_err_t err = OP(rd_kafka_mock_broker_set_down(mcluster, (int32_t)id));
    if (!err) mark_up(id, 0);
    reply_rd("down", err);
  } else if (!strcmp(cmd, "up")) {
    NEED(2, "up <brokerId|-1>");
    ARG_INT(1, -1, INT_MAX, id, "broker id");
    rd_kafka_resp_err_t err = OP(rd_kafka_mock_broker_set_up(mcluster, (int32_t)id));
    if (!err) mark_up(id, 1);
    reply_rd("up", err);
  } else if (!strcmp(cmd, "rtt")) {
    NEED(3, "rtt <brokerId|-1> <ms>");
    ARG_INT(1, -1, INT_MAX, id, "broker id");
    ARG_INT(2, 0, INT_MAX, ms, "milliseconds");
    reply_rd("rtt", OP(rd_kafka_mock_broker_set_rtt(mcluster, (int32_t)id, (int)ms)));
  } else if (!strcmp(cmd, "rack")) {
    NEED(3, "rack <brokerId|-1> <rack>");
    ARG_INT(1, -1, INT_MAX, id, "broker id");
    reply_rd("rack", OP(rd_kafka_mock_broker_set_rack(mcluster, (int32_t)id, argv[2])));
  } else if (!strcmp(cmd, "error")) {
    NEED(4, "error <apiKey> <errorCode> <count>");
    ARG_INT(1, 0, SHRT_MAX, api, "api key");
    ARG_INT(2, INT_MIN, INT_MAX, code, "error code");
    ARG_INT(3, 1, 100000, cnt, "count");
    rd_kafka_resp_err_t *errs = malloc(sizeof *errs * (size_t)cnt);
    if (!errs) {
      reply_err("error: out of memory");
      return;
    }
    for (long i = 0; i < cnt; i++) errs[i] = (rd_kafka_resp_err_t)code;
    OPV(rd_kafka_mock_push_request_errors_array(mcluster, (int16_t)api, (size_t)cnt, errs));
    free(errs);
    reply_ok();
  } else if (!strcmp(cmd, "broker-error")) {
    if (argc != 5 && argc != 6) {
      reply_err("usage: broker-error <brokerId> <apiKey> <errorCode> <count> [rttMs]");
      return;
    }
    ARG_INT(1, 0, INT_MAX, id, "broker id");
    ARG_INT(2, 0, SHRT_MAX, api, "api key");
    ARG_INT(3, INT_MIN, INT_MAX, code, "error code");
    ARG_INT(4, 1, 100000, cnt, "count");
    long rtt = 0;
    if (argc == 6 && !parse_int(argv[5], 0, INT_MAX, &rtt)) {
      reply_err("broker-error: bad rttMs '%s'", argv[5]);
      return;
    }
    for (long i = 0; i < cnt; i++) {
      rd_kafka_resp_err_t err = OP(rd_kafka_mock_broker_push_request_error_rtts(
          mcluster, (int32_t)id, (int16_t)api, 1, (rd_kafka_resp_err_t)code, (int)rtt));
      if (err) {
        reply_rd("broker-error", err);
        return;
      }
    }
    reply_ok();
  } else if (!strcmp(cmd, "clear")) {
    NEED(2, "clear <apiKey>");
    ARG_INT(1, 0, SHRT_MAX, api, "api key");
    OPV(rd_kafka_mock_clear_request_errors(mcluster, (int16_t)api));
    reply_ok();
  } else if (!strcmp(cmd, "leader")) {
    NEED(4, "leader <topic> <partition> <brokerId|-1>");
    ARG_INT(2, 0, INT_MAX, p, "partition");
    ARG_INT(3, -1, INT_MAX, id, "broker id");
    reply_rd("leader", OP(rd_kafka_mock_partition_set_leader(mcluster, argv[1], (int32_t)p, (int32_t)id)));
  } else if (!strcmp(cmd, "follower")) {
    NEED(4, "follower <topic> <partition> <brokerId>");
    ARG_INT(2, 0, INT_MAX, p, "partition");
    ARG_INT(3, -1, INT_MAX, id, "broker id");
    reply_rd("follower", OP(rd_kafka_mock_partition_set_follower(mcluster, argv[1], (int32_t)p, (int32_t)id)));
  } else if (!strcmp(cmd, "topic-error")) {
    NEED(3, "topic-error <topic> <errorCode>");
    ARG_INT(2, INT_MIN, INT_MAX, code, "error code");
    OPV(rd_kafka_mock_topic_set_error(mcluster, argv[1], (rd_kafka_resp_err_t)code));
    reply_ok();
  } else if (!strcmp(cmd, "coordinator")) {
    NEED(4, "coordinator <group|transaction> <key> <brokerId>");
    if (strcmp(argv[1], "group") && strcmp(argv[1], "transaction")) {
      reply_err("coordinator: key type must be group or transaction, not '%s'", argv[1]);
      return;
    }
    ARG_INT(3, -1, INT_MAX, id, "broker id");
    reply_rd("coordinator", OP(rd_kafka_mock_coordinator_set(mcluster, argv[1], argv[2], (int32_t)id)));
  } else if (!strcmp(cmd, "create")) {
    NEED(4, "create <topic> <partitions> <replication>");
    ARG_INT(2, 1, 100000, parts, "partition count");
    ARG_INT(3, 1, 1000, repl, "replication factor");
    reply_rd("create", create_topic(argv[1], (int)parts, (int)repl));
  } else if (!strcmp(cmd, "quit")) {
    reply_ok();
    stop_signal = -1;
  } else {
    reply_err("unknown command '%s' (ping, down, up, rtt, rack, error, broker-error, clear, leader, "
              "follower, topic-error, coordinator, create, quit)",
              cmd);
  }
}

static void usage_exit(const char *msg, const char *arg) {
  fprintf(stderr, "mock-cluster: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
  fprintf(stderr, "usage: mock-cluster [--brokers N] [--topic NAME:PARTITIONS[:REPLICATION]]... [--debug]\n");
  exit(2);
}

int main(int argc, char **argv) {
  long brokers = 3;
  int debug = 0;
  struct {
    char name[256];
    long partitions, replication;
  } topics[MAX_TOPICS];
  int ntopics = 0;

  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--brokers")) {
      if (++i >= argc || !parse_int(argv[i], 1, 100, &brokers)) usage_exit("--brokers wants 1..100", i < argc ? argv[i] : NULL);
    } else if (!strcmp(argv[i], "--topic")) {
      if (++i >= argc) usage_exit("--topic wants NAME:PARTITIONS[:REPLICATION]", NULL);
      if (ntopics >= MAX_TOPICS) usage_exit("too many topics", argv[i]);
      char spec[512];
      snprintf(spec, sizeof spec, "%s", argv[i]);
      char *name = strtok(spec, ":"), *parts = strtok(NULL, ":"), *repl = strtok(NULL, ":");
      if (!name || !parts || strtok(NULL, ":") || strlen(name) >= sizeof topics[0].name)
        usage_exit("--topic wants NAME:PARTITIONS[:REPLICATION]", argv[i]);
      snprintf(topics[ntopics].name, sizeof topics[0].name, "%s", name);
      if (!parse_int(parts, 1, 100000, &topics[ntopics].partitions)) usage_exit("bad partition count", argv[i]);
      topics[ntopics].replication = -1;
      if (repl && !parse_int(repl, 1, 100, &topics[ntopics].replication)) usage_exit("bad replication factor", argv[i]);
      ntopics++;
    } else if (!strcmp(argv[i], "--debug")) {
      debug = 1;
    } else {
      usage_exit("unknown argument", argv[i]);
    }
  }
  broker_cnt = brokers;
  for (int t = 0; t < ntopics; t++) {
    if (topics[t].replication == -1) topics[t].replication = brokers < 3 ? brokers : 3;
    if (topics[t].replication > brokers) usage_exit("replication factor exceeds --brokers", topics[t].name);
  }

  /* Block the stop signals before librdkafka starts its threads (they inherit the mask), so only
   * the main thread sees them, and only while it waits in ppoll. */
  sigset_t stopset, waitmask;
  sigemptyset(&stopset);
  sigaddset(&stopset, SIGTERM);
  sigaddset(&stopset, SIGINT);
  sigaddset(&stopset, SIGHUP);
  sigprocmask(SIG_BLOCK, &stopset, &waitmask);
  sigdelset(&waitmask, SIGTERM);
  sigdelset(&waitmask, SIGINT);
  sigdelset(&waitmask, SIGHUP);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN); /* a vanished reader shows as a write error, then stdin EOF */

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* This handle only hosts the cluster: it has no bootstrap servers, and says so at notice level. */
  if (rd_kafka_conf_set(conf, "log_level", debug ? "7" : "4", errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
      (debug && rd_kafka_conf_set(conf, "debug", "mock,broker", errstr, sizeof errstr) != RD_KAFKA_CONF_OK)) {
    fprintf(stderr, "mock-cluster: %s\n", errstr);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "mock-cluster: rd_kafka_new: %s\n", errstr);
    return 1;
  }
  mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
  if (!mcluster) {
    fprintf(stderr, "mock-cluster: rd_kafka_mock_cluster_new failed\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
  const char *b = bootstraps;
  for (int i = 0; i < brokers && b; i++) {
    const char *colon = strchr(b, ':');
    ports[i] = colon ? atoi(colon + 1) : 0;
    atomic_store(&up_flags[i], ports[i] > 0);
    b = strchr(b, ',');
    if (b) b++;
  }
  pthread_t wd;
  if (pthread_create(&wd, NULL, watchdog, NULL) != 0) {
    fprintf(stderr, "mock-cluster: cannot start the watchdog thread\n");
    return 1;
  }
  pthread_detach(wd);

  for (int t = 0; t < ntopics; t++) {
    rd_kafka_resp_err_t err = create_topic(topics[t].name, (int)topics[t].partitions, (int)topics[t].replication);
    if (err) {
      fprintf(stderr, "mock-cluster: creating topic %s: %s\n", topics[t].name, rd_kafka_err2str(err));
      _exit(1);
    }
  }

  fputs("{\"event\":\"ready\",\"bootstrap\":\"", stdout);
  json_str(stdout, bootstraps);
  fprintf(stdout, "\",\"brokers\":%ld}\n", brokers);
  fflush(stdout);

  char buf[LINE_MAX_LEN];
  size_t len = 0;
  int eof = 0, overlong = 0; /* overlong: inside a line too long to keep, dropped up to its newline */
  while (!stop_signal && !eof) {
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    int n = ppoll(&pfd, 1, NULL, &waitmask);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("mock-cluster: poll");
      break;
    }
    ssize_t r = read(STDIN_FILENO, buf + len, sizeof buf - 1 - len);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      break;
    }
    if (r == 0) eof = 1;
    len += (size_t)r;
    char *start = buf, *nl;
    while (!stop_signal && (nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
      *nl = '\0';
      if (overlong) {
        overlong = 0;
        reply_err("command longer than %d bytes", LINE_MAX_LEN - 2);
      } else {
        command(start);
      }
      start = nl + 1;
    }
    len -= (size_t)(start - buf);
    memmove(buf, start, len);
    if (eof && len > 0 && !stop_signal && !overlong) { /* a last line without its newline */
      buf[len] = '\0';
      command(buf);
    }
    if (len == sizeof buf - 1) {
      overlong = 1;
      len = 0;
    }
    if (ferror(stdout)) break;
  }

  /* No rd_kafka_mock_cluster_destroy: it waits out the mock thread's 1 s poll, a second added to
   * every test's teardown. Nothing outlives the process: the kernel closes the sockets. */
  fflush(stdout);
  _exit(0);
}
