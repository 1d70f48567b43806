/*
 * udp_batch: batched UDP I/O for bootwire's TFTP transfers (Linux, IPv4).
 *
 * Why: node:dgram pays, per datagram received, a JavaScript callback, a 64 KiB allocation, an
 * address formatted with sprintf and an rinfo object built property by property, plus one more
 * recvmsg that returns EAGAIN; and per datagram sent, a SendWrap, closures and a copy of the buffer
 * list. With hundreds of lock-step transfers that is most of a server's user-space time (see the
 * README, "Batched UDP").
 *
 * How: every socket is in libuv's own epoll set (a uv_poll handle, no JavaScript per socket). In
 * one turn of the loop, each readable socket is read with one recvmmsg (as many datagrams as its
 * burst, no EAGAIN probe) into the thread's batch, and after the poll phase (a uv_check handle) the
 * batch goes to JavaScript in one call: one Buffer with all the datagrams, and an index of (socket
 * id, offset, length, source address, source port) per datagram in an Int32Array the caller gave.
 * (A nested epoll set of our own, watched by libuv as one fd, cost an extra wake-up level per
 * datagram and an extra epoll_wait per batch.) A send is one sendmsg with two iovecs (header, and a view of the shared image), so the image
 * bytes go from the shared copy to the kernel without a copy in between.
 *
 * Only bytes move here: every protocol decision stays in TypeScript.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/errqueue.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define ENTRY 5               /* int32s per datagram in the index */
#define SCRATCH (1u << 20)    /* slots of the datagrams received in one batch */
#define OVERFLOW 65536        /* the rest of a datagram longer than its slot (any UDP payload fits) */
#define MAX_PER_SOCKET 32     /* datagrams taken from one socket per batch at most */

typedef struct sock sock_t;

typedef struct poller {
  napi_env env;
  uv_loop_t *loop;
  uv_check_t check; /* runs after the loop's poll phase: hands the batch to JavaScript */
  int checking;
  int dead;
  sock_t *open; /* open sockets, closed if the thread's environment goes away */
  napi_ref callback;
  napi_ref index_ref;
  int32_t *index;
  size_t capacity; /* datagrams per batch */
  size_t count;    /* datagrams in the batch being gathered */
  size_t used;     /* their bytes in scratch */
  napi_async_context async;
  uint8_t *scratch; /* SCRATCH + OVERFLOW: one long datagram always fits after the slots */
  uint8_t *overflow;
} poller_t;

struct sock {
  poller_t *p;
  uv_poll_t poll; /* the socket in libuv's own epoll set: a datagram wakes the loop directly */
  int fd;
  int32_t id;
  uint32_t slot;  /* bytes set aside per datagram: the longest this socket usually gets */
  uint32_t burst; /* datagrams it usually has queued when readable (a window); more wait for the next batch */
  int owners;     /* the JavaScript object and the libuv handle: freed when both let go */
  sock_t *prev, *next;
};

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, e;
  napi_create_string_utf8(env, err == EADDRINUSE ? "EADDRINUSE" : err == EACCES ? "EACCES" : "EUDPBATCH", NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &e);
  napi_throw(env, e);
  return NULL;
}

#define CHECK(call)                                                                   \
  do {                                                                                \
    if ((call) != napi_ok) {                                                          \
      napi_throw_error(env, NULL, "udp_batch: bad arguments (" #call ")");            \
      return NULL;                                                                    \
    }                                                                                 \
  } while (0)

static void deliver(poller_t *p, size_t used, int count) {
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[2], result;
  void *data;
  if (napi_get_reference_value(env, p->callback, &cb) == napi_ok && napi_get_global(env, &recv) == napi_ok &&
      napi_create_buffer_copy(env, used, p->scratch, &data, &argv[0]) == napi_ok && napi_create_int32(env, count, &argv[1]) == napi_ok) {
    /* recv must be an object for napi_make_callback: the global, as for a plain function call */
    if (napi_make_callback(env, p->async, recv, cb, 2, argv, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void flush(poller_t *p) {
  if (p->count == 0) return;
  size_t used = p->used;
  int count = (int)p->count;
  p->used = p->count = 0;
  deliver(p, used, count);
}

static void on_check(uv_check_t *handle) {
  poller_t *p = handle->data;
  uv_check_stop(&p->check);
  p->checking = 0;
  flush(p);
}

/*
 * Takes what an error left on the socket: the queued ICMP and local errors (IP_RECVERR) and the
 * pending error, so that poll stops reporting POLLERR. The errors themselves need no answer here:
 * a transfer that lost its peer times out in its machine.
 */
static void clear_errors(sock_t *s) {
  char buf[64], control[256];
  for (int i = 0; i < 64; i++) {
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    if (recvmsg(s->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
}

/* Reads what one readable socket has (up to its burst) into the batch. */
static void read_socket(poller_t *p, sock_t *s) {
  if (p->count == p->capacity || SCRATCH - p->used < s->slot) flush(p);
  if (s->fd < 0) return; /* closed by a handler of the batch just delivered */
  struct mmsghdr mm[MAX_PER_SOCKET];
  struct iovec iov[2 * MAX_PER_SOCKET];
  struct sockaddr_in from[MAX_PER_SOCKET];
  size_t room = (SCRATCH - p->used) / s->slot;
  size_t vlen = p->capacity - p->count;
  if (vlen > s->burst) vlen = s->burst;
  if (vlen > room) vlen = room;
  size_t base = p->used;
  for (size_t j = 0; j < vlen; j++) {
    /* A datagram longer than the slot spills into the shared overflow area (see below). */
    iov[2 * j].iov_base = p->scratch + base + j * s->slot;
    iov[2 * j].iov_len = s->slot;
    iov[2 * j + 1].iov_base = p->overflow;
    iov[2 * j + 1].iov_len = OVERFLOW;
    memset(&mm[j].msg_hdr, 0, sizeof mm[j].msg_hdr);
    mm[j].msg_hdr.msg_iov = &iov[2 * j];
    mm[j].msg_hdr.msg_iovlen = 2;
    mm[j].msg_hdr.msg_name = &from[j];
    mm[j].msg_hdr.msg_namelen = sizeof from[j];
  }
  int got = recvmmsg(s->fd, mm, (unsigned)vlen, MSG_DONTWAIT, NULL);
  if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK) clear_errors(s); /* an ICMP error: nothing to hand on */
  if (got <= 0) return;
  /* Only the last long datagram of the call still has its tail in the overflow area: put it back
   * together there (slot part first); earlier long ones lost their tails and go as malformed. */
  int last_long = -1;
  for (int j = 0; j < got; j++)
    if (mm[j].msg_len > s->slot) last_long = j;
  if (last_long >= 0) {
    size_t len = mm[last_long].msg_len;
    memmove(p->overflow + s->slot, p->overflow, len - s->slot);
    memcpy(p->overflow, p->scratch + base + (size_t)last_long * s->slot, s->slot);
  }
  size_t used = p->used;
  int32_t *long_entry = NULL;
  for (int j = 0; j < got; j++) {
    int32_t *e = p->index + p->count * ENTRY;
    size_t len = mm[j].msg_len;
    e[0] = s->id;
    e[3] = (int32_t)ntohl(from[j].sin_addr.s_addr);
    e[4] = ntohs(from[j].sin_port);
    e[1] = (int32_t)used;
    if (len <= s->slot) {
      memmove(p->scratch + used, p->scratch + base + j * s->slot, len);
      e[2] = (int32_t)len;
      used += len;
    } else if (j == last_long) {
      long_entry = e; /* its bytes go after the others, once their slots are compacted */
    } else {
      e[2] = -1;
    }
    p->count++;
  }
  if (long_entry) {
    size_t len = mm[last_long].msg_len;
    memcpy(p->scratch + used, p->overflow, len);
    long_entry[1] = (int32_t)used;
    long_entry[2] = (int32_t)len;
    used += len;
  }
  p->used = used;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  sock_t *s = handle->data;
  poller_t *p = s->p;
  if (s->fd < 0 || p->dead) return;
  if (status < 0) {
    /* POLLERR: libuv has stopped the handle. Clear the error and watch the socket again, or an ICMP
     * message (port unreachable, or anything IP_RECVERR queues) would leave the socket deaf. */
    clear_errors(s);
    if (uv_poll_start(&s->poll, UV_READABLE, on_readable) != 0) return;
  }
  read_socket(p, s);
  /* The rest of this loop turn's readable sockets join the batch; the check phase delivers it. */
  if (p->count > 0 && !p->checking) {
    uv_check_start(&p->check, on_check);
    p->checking = 1;
  }
}

static void release(sock_t *s) {
  if (--s->owners == 0) free(s);
}

static void on_poll_closed(uv_handle_t *handle) { release(handle->data); }

static void close_sock(sock_t *s) {
  if (s->fd < 0) return;
  poller_t *p = s->p;
  uv_poll_stop(&s->poll); /* takes the fd out of libuv's epoll set now, so it can be closed */
  close(s->fd);
  s->fd = -1;
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  if (s->prev) s->prev->next = s->next;
  else p->open = s->next;
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = NULL;
}

static void poller_cleanup(void *arg) {
  /* The thread's environment is going away: close every handle, or the loop cannot close. The
   * struct stays (socket objects finalized later may still point at it). */
  poller_t *p = arg;
  while (p->open) close_sock(p->open);
  p->dead = 1;
  uv_close((uv_handle_t *)&p->check, NULL);
  free(p->scratch);
  free(p->overflow);
  p->scratch = p->overflow = NULL;
}

static void sock_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = data;
  close_sock(s);
  release(s);
}

/* createPoller(onBatch(buffer, count), index: Int32Array) */
static napi_value CreatePoller(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  napi_typedarray_type type;
  size_t length;
  void *data;
  CHECK(napi_get_typedarray_info(env, a[1], &type, &length, &data, NULL, NULL));
  if (type != napi_int32_array || length < ENTRY) {
    napi_throw_type_error(env, NULL, "udp_batch: the index must be an Int32Array");
    return NULL;
  }
  poller_t *p = calloc(1, sizeof *p);
  if (!p || !(p->scratch = malloc(SCRATCH + OVERFLOW)) || !(p->overflow = malloc(2 * OVERFLOW))) return throw_errno(env, "udp_batch", ENOMEM);
  p->env = env;
  p->index = data;
  p->capacity = length / ENTRY;
  CHECK(napi_get_uv_event_loop(env, &p->loop));
  uv_check_init(p->loop, &p->check);
  uv_unref((uv_handle_t *)&p->check); /* sockets keep the loop alive, not the batch hand-off */
  p->check.data = p;
  CHECK(napi_create_reference(env, a[0], 1, &p->callback));
  CHECK(napi_create_reference(env, a[1], 1, &p->index_ref));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "bootwire:udp-batch", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &p->async));
  CHECK(napi_add_env_cleanup_hook(env, poller_cleanup, p));
  napi_value out;
  CHECK(napi_create_external(env, p, NULL, NULL, &out));
  return out;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) { return napi_get_value_uint32(env, v, out) == napi_ok; }

/*
 * open(poller, id, address (IPv4 as uint32), port, reuseAddr, slot, burst) -> socket
 * burst: how many datagrams one read asks for. recvmmsg copies in and tries each entry, so asking a
 * lock-step socket for more than one costs a failed attempt per datagram; what is left over stays
 * readable (level-triggered) and comes in the next batch.
 */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value a[7];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  poller_t *p;
  int32_t id;
  uint32_t addr, port, maxlen, burst;
  bool reuse;
  CHECK(napi_get_value_external(env, a[0], (void **)&p));
  CHECK(napi_get_value_int32(env, a[1], &id));
  if (!get_u32(env, a[2], &addr) || !get_u32(env, a[3], &port) || !get_u32(env, a[5], &maxlen) || !get_u32(env, a[6], &burst) || port > 65535) {
    napi_throw_type_error(env, NULL, "udp_batch: bad address, port or size");
    return NULL;
  }
  CHECK(napi_get_value_bool(env, a[4], &reuse));
  if (p->dead) return throw_errno(env, "udp_batch", ESHUTDOWN);
  if (maxlen < 64) maxlen = 64;
  if (maxlen > OVERFLOW) maxlen = OVERFLOW;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (reuse) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  /* Without IP_RECVERR, Linux reports a datagram dropped by a full interface queue (ENOBUFS) as sent:
   * with it, the send fails and the caller keeps the datagram until there is room (back-pressure). */
  setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(addr)};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  sock_t *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_errno(env, "udp_batch", ENOMEM);
  }
  s->p = p;
  s->fd = fd;
  s->id = id;
  s->slot = (maxlen + 7) & ~7u;
  s->burst = burst < 1 ? 1 : burst > MAX_PER_SOCKET ? MAX_PER_SOCKET : burst;
  int err = uv_poll_init(p->loop, &s->poll, fd);
  if (err != 0) {
    close(fd);
    free(s);
    return throw_errno(env, "uv_poll_init", -err);
  }
  s->poll.data = s;
  err = uv_poll_start(&s->poll, UV_READABLE, on_readable);
  if (err != 0) {
    close(fd);
    s->owners = 1; /* the handle's close callback frees it */
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
    return throw_errno(env, "uv_poll_start", -err);
  }
  s->owners = 2;
  s->next = p->open;
  if (p->open) p->open->prev = s;
  p->open = s;
  napi_value out;
  CHECK(napi_create_external(env, s, sock_finalize, NULL, &out));
  return out;
}

static sock_t *sock_arg(napi_env env, napi_value v) {
  sock_t *s = NULL;
  napi_get_value_external(env, v, (void **)&s);
  return s;
}

/* localPort(socket) -> port */
static napi_value LocalPort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1], out;
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *s = sock_arg(env, a[0]);
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  if (!s || s->fd < 0 || getsockname(s->fd, (struct sockaddr *)&sa, &len) < 0) return throw_errno(env, "getsockname", s && s->fd >= 0 ? errno : EBADF);
  CHECK(napi_create_uint32(env, ntohs(sa.sin_port), &out));
  return out;
}

/* connect(socket, address, port): only the peer's datagrams reach it, and send() needs no address */
static napi_value Connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *s = sock_arg(env, a[0]);
  uint32_t addr, port;
  if (!s || !get_u32(env, a[1], &addr) || !get_u32(env, a[2], &port) || port > 65535) {
    napi_throw_type_error(env, NULL, "udp_batch: bad socket, address or port");
    return NULL;
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(addr)};
  if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0) return throw_errno(env, "connect", s->fd < 0 ? EBADF : errno);
  return NULL;
}

/* sendmsg on the socket: bytes sent, or -errno (a closed socket: -EBADF) */
static napi_value send_message(napi_env env, sock_t *s, struct msghdr *m) {
  ssize_t r = s->fd < 0 ? -1 : sendmsg(s->fd, m, MSG_DONTWAIT);
  napi_value out;
  CHECK(napi_create_int32(env, r < 0 ? (s->fd < 0 ? -EBADF : -errno) : (int32_t)r, &out));
  return out;
}

/* One datagram of head (+ body), to the connected peer or to address:port. Returns bytes or -errno. */
static napi_value do_send(napi_env env, sock_t *s, napi_value head, napi_value body, struct sockaddr_in *to) {
  struct iovec iov[2];
  size_t n = 0;
  void *d;
  size_t l;
  CHECK(napi_get_buffer_info(env, head, &d, &l));
  iov[n].iov_base = d;
  iov[n++].iov_len = l;
  if (body) {
    CHECK(napi_get_buffer_info(env, body, &d, &l));
    iov[n].iov_base = d;
    iov[n++].iov_len = l;
  }
  struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
  if (to) {
    m.msg_name = to;
    m.msg_namelen = sizeof *to;
  }
  return send_message(env, s, &m);
}

/* send(socket, head, body?) on a connected socket */
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *s = sock_arg(env, a[0]);
  if (!s || argc < 2) {
    napi_throw_type_error(env, NULL, "udp_batch: send(socket, head, body?)");
    return NULL;
  }
  napi_valuetype t = napi_undefined;
  if (argc > 2) napi_typeof(env, a[2], &t);
  return do_send(env, s, a[1], t == napi_object ? a[2] : NULL, NULL);
}

/* sendTo(socket, address, port, head, body?) */
static napi_value SendTo(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *s = sock_arg(env, a[0]);
  uint32_t addr, port;
  if (!s || argc < 4 || !get_u32(env, a[1], &addr) || !get_u32(env, a[2], &port) || port > 65535) {
    napi_throw_type_error(env, NULL, "udp_batch: sendTo(socket, address, port, head, body?)");
    return NULL;
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(addr)};
  napi_valuetype t = napi_undefined;
  if (argc > 4) napi_typeof(env, a[4], &t);
  return do_send(env, s, a[3], t == napi_object ? a[4] : NULL, &to);
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define MAX_SEGMENTS 64

/*
 * sendSegments(socket, list, first, count, segmentBytes): datagrams first .. first+count-1 of list to
 * the connected peer in one sendmsg, list = [head0, body0, head1, body1, ...], every datagram
 * segmentBytes long but the last,
 * which may be shorter. UDP GSO (UDP_SEGMENT): the kernel cuts them apart, so a window of DATA costs
 * one trip through the stack instead of one per block. Returns bytes or -errno (EMSGSIZE, EIO or
 * EINVAL: the path cannot segment, e.g. a datagram longer than the MTU; the caller sends them one by one).
 */
static napi_value SendSegments(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *s = sock_arg(env, a[0]);
  uint32_t first, count, seg;
  if (!s || argc < 5 || !get_u32(env, a[2], &first) || !get_u32(env, a[3], &count) || !get_u32(env, a[4], &seg) || count == 0 ||
      count > MAX_SEGMENTS || seg == 0 || seg > 65535 || first > (1u << 20)) {
    napi_throw_type_error(env, NULL, "udp_batch: sendSegments(socket, list, first, count, segmentBytes)");
    return NULL;
  }
  struct iovec iov[2 * MAX_SEGMENTS];
  for (uint32_t i = 0; i < 2 * count; i++) {
    napi_value v;
    void *d;
    size_t l;
    CHECK(napi_get_element(env, a[1], 2 * first + i, &v));
    CHECK(napi_get_buffer_info(env, v, &d, &l));
    iov[i].iov_base = d;
    iov[i].iov_len = l;
  }
  char control[CMSG_SPACE(sizeof(uint16_t))];
  memset(control, 0, sizeof control);
  struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2 * count, .msg_control = control, .msg_controllen = sizeof control};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  uint16_t g = (uint16_t)seg;
  memcpy(CMSG_DATA(c), &g, sizeof g);
  return send_message(env, s, &m);
}

/* close(socket); closing twice is harmless */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *s = sock_arg(env, a[0]);
  if (s) close_sock(s);
  return NULL;
}

/* unref(socket): an open socket that does not keep the event loop alive (a client's dally) */
static napi_value Unref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *s = sock_arg(env, a[0]);
  if (s && s->fd >= 0) uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  /* Pin this library: a worker thread's exit unloads its addons, but libuv may still call
   * on_poll_closed for sockets closed just before, while the loop closes its handles. */
  Dl_info self;
  if (dladdr((void *)Init, &self) && self.dli_fname) dlopen(self.dli_fname, RTLD_NOW | RTLD_NODELETE);
  napi_property_descriptor d[] = {
      {"createPoller", NULL, CreatePoller, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
      {"localPort", NULL, LocalPort, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, Connect, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_default, NULL},
      {"sendTo", NULL, SendTo, NULL, NULL, NULL, napi_default, NULL},
      {"sendSegments", NULL, SendSegments, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"unref", NULL, Unref, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  return exports;
}

NAPI_MODULE_INIT() { return Init(env, exports); }
