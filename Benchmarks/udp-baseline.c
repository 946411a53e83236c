// Raw UDP baselines on loopback, for docs/BENCHMARKS.md (same machine, same run as Meshstep's
// figures): ping-pong round trip (one-way = half of it) and a recv-then-send relay. The last
// line is the same figures as JSON, prefixed "json: " (meshstep-netbench compiles and runs this
// file and reads that line). With the argument `relay`, only the relay runs, and its JSON line
// has only the relay's figures (meshstep-netbench runs it just before each of its relay runs).
//   gcc -O2 -pthread -o /tmp/udp-baseline Benchmarks/udp-baseline.c && /tmp/udp-baseline [relay]
#define _GNU_SOURCE  // RUSAGE_THREAD
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int bound_socket(struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)addr, sizeof *addr);
    socklen_t len = sizeof *addr;
    getsockname(fd, (struct sockaddr *)addr, &len);
    return fd;
}

static int echo_fd;
static volatile int stop_echo;
static void *echo(void *arg) {
    (void)arg;
    char buf[2048];
    struct sockaddr_in from;
    while (!stop_echo) {
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(echo_fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n > 0) sendto(echo_fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int relay_fd, sink_fd;
static struct sockaddr_in sink_addr;
static volatile int stop_relay;
// The relay thread's own CPU time (user and system) and the datagrams it re-sent: its CPU per
// datagram is what a relay costs with a core to itself, whatever the other threads take.
static double relay_cpu_us;
static uint64_t relay_sent;
static double thread_cpu_us(void) {
    struct rusage u;
    getrusage(RUSAGE_THREAD, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}
static void *relay(void *arg) {
    (void)arg;
    char buf[2048];
    double cpu0 = thread_cpu_us();
    uint64_t sent = 0;
    while (!stop_relay) {
        ssize_t n = recv(relay_fd, buf, sizeof buf, 0);
        // The 1-byte datagram that stops the run is passed on but not counted.
        if (n > 0 && sendto(relay_fd, buf, (size_t)n, 0, (struct sockaddr *)&sink_addr, sizeof sink_addr) > 0 && n > 1) sent++;
    }
    relay_cpu_us = thread_cpu_us() - cpu0;
    relay_sent = sent;
    return NULL;
}
static volatile uint64_t sunk;
static void *sink(void *arg) {
    (void)arg;
    char buf[2048];
    while (!stop_relay) {
        if (recv(sink_fd, buf, sizeof buf, 0) > 0) sunk++;
    }
    return NULL;
}

// `n` round trips of a 100-byte datagram to the echo thread, sorted into `rtt`; with a
// `period_ns`, each starts on the next multiple of it (both threads sleep in between).
static void ping_pong(int fd, struct sockaddr_in *to, uint64_t *rtt, int n, uint64_t period_ns) {
    char buf[2048] = {0};
    uint64_t next = now_ns();
    for (int i = 0; i < n; i++) {
        if (period_ns) {
            next += period_ns;
            struct timespec at = {(time_t)(next / 1000000000ull), (long)(next % 1000000000ull)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
        }
        uint64_t t0 = now_ns();
        sendto(fd, buf, 100, 0, (struct sockaddr *)to, sizeof *to);
        recv(fd, buf, sizeof buf, 0);
        rtt[i] = now_ns() - t0;
    }
    qsort(rtt, n, sizeof rtt[0], cmp);
}

// Relay: a sender blasts 200-byte datagrams at a relay that receives and re-sends each one
// to a sink; datagrams per second arriving at the sink over 2 seconds, and the relay thread's
// CPU per datagram.
static void run_relay(double *per_second, double *cpu_per_datagram) {
    char buf[2048] = {0};
    stop_relay = 0;
    sunk = 0;
    struct sockaddr_in relay_addr, send_addr;
    relay_fd = bound_socket(&relay_addr);
    sink_fd = bound_socket(&sink_addr);
    int send_fd = bound_socket(&send_addr);
    int big = 4 << 20;
    setsockopt(relay_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(sink_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    pthread_t r, s;
    pthread_create(&r, NULL, relay, NULL);
    pthread_create(&s, NULL, sink, NULL);
    uint64_t start = now_ns(), sent = 0;
    while (now_ns() - start < 2000000000ull) {
        sendto(send_fd, buf, 200, 0, (struct sockaddr *)&relay_addr, sizeof relay_addr);
        sent++;
        if (sent % 64 == 0) usleep(1);
    }
    double seconds = (now_ns() - start) / 1e9;
    uint64_t relayed = sunk;
    stop_relay = 1;
    sendto(send_fd, buf, 1, 0, (struct sockaddr *)&relay_addr, sizeof relay_addr);
    sendto(send_fd, buf, 1, 0, (struct sockaddr *)&sink_addr, sizeof sink_addr);
    pthread_join(r, NULL);
    pthread_join(s, NULL);
    *per_second = relayed / seconds;
    *cpu_per_datagram = relay_cpu_us / (double)(relay_sent ? relay_sent : 1);
    printf("raw UDP recv-then-send relay over loopback, 200-byte datagrams\n");
    printf("  %.0f datagrams/s relayed (%.0f/s offered); the relay thread: %.2f us of CPU per datagram\n", *per_second,
           sent / seconds, *cpu_per_datagram);
}

int main(int argc, char **argv) {
    double relay_per_second, relay_cpu;
    if (argc > 1 && strcmp(argv[1], "relay") == 0) {
        run_relay(&relay_per_second, &relay_cpu);
        printf("json: {\"relay_per_second\": %.0f, \"relay_cpu_us_per_datagram\": %.3f}\n", relay_per_second, relay_cpu);
        return 0;
    }
    // Ping-pong: 20,000 round trips of a 100-byte datagram.
    struct sockaddr_in echo_addr, ping_addr;
    echo_fd = bound_socket(&echo_addr);
    int ping_fd = bound_socket(&ping_addr);
    pthread_t t;
    pthread_create(&t, NULL, echo, NULL);
    enum { N = 20000 };
    static uint64_t rtt[N];
    char buf[2048] = {0};
    ping_pong(ping_fd, &echo_addr, rtt, N, 0);
    printf("raw UDP ping-pong over loopback, 100-byte datagrams, %d round trips\n", N);
    printf("  round trip p50 %.1f us, p99 %.1f us; one-way (half) p50 %.1f us, p99 %.1f us\n",
           rtt[N / 2] / 1e3, rtt[N * 99 / 100] / 1e3, rtt[N / 2] / 2e3, rtt[N * 99 / 100] / 2e3);
    // The same ping-pong paced at 60 Hz (a game's frame rate): between frames both threads
    // sleep, as a game's event loops do, so each datagram wakes an idle thread (on a VM, often
    // an idle virtual CPU). 120 round trips, 2 seconds.
    enum { P = 120 };
    static uint64_t paced[P];
    ping_pong(ping_fd, &echo_addr, paced, P, 1000000000ull / 60);
    printf("raw UDP ping-pong paced at 60 Hz, %d round trips\n", P);
    printf("  round trip p50 %.1f us, p99 %.1f us; one-way (half) p50 %.1f us\n", paced[P / 2] / 1e3, paced[P * 99 / 100] / 1e3,
           paced[P / 2] / 2e3);
    stop_echo = 1;
    sendto(ping_fd, buf, 1, 0, (struct sockaddr *)&echo_addr, sizeof echo_addr);
    pthread_join(t, NULL);

    run_relay(&relay_per_second, &relay_cpu);
    printf("json: {\"rtt_p50_us\": %.2f, \"rtt_p99_us\": %.2f, \"one_way_p50_us\": %.2f, \"paced_one_way_p50_us\": %.2f, "
           "\"relay_per_second\": %.0f, \"relay_cpu_us_per_datagram\": %.3f}\n",
           rtt[N / 2] / 1e3, rtt[N * 99 / 100] / 1e3, rtt[N / 2] / 2e3, paced[P / 2] / 2e3, relay_per_second, relay_cpu);
    return 0;
}
