/*
 * udp_batch: batched UDP I/O for bootwire's TFTP transfers (Linux, IPv4).
 *
 * Why: node:dgram pays, per datagram received, a JavaScript callback, a 64 KiB allocation, an
 * address formatted with sprintf and an rinfo object built property by property, plus one more
 * recvmsg that returns EAGAIN; and per datagram sent, a SendWrap, closures and a copy of the buffer
 * list. With hundreds of lock-step transfers that is most of a server's user-space time (see the
 * README, "Batched UDP").
 *
 * How: each thread has one poller, an epoll set that libuv watches as one fd. When any socket in it
 * is readable, every ready socket is drained with recvmmsg (one call per socket, no EAGAIN probe) and
 * the batch goes to JavaScript in one call: one Buffer with all the datagrams, and an index of
 * (socket id, offset, length, source address, source port) per datagram in an Int32Array the caller
 * gave. A send is one sendmsg with two iovecs (header, and a view of the shared image), so the image
 * bytes go from the shared copy to the kernel without a copy in between.
 *
 * Only bytes move here: every protocol decision stays in TypeScript.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define ENTRY 5               /* int32s per datagram in the index */
#define SCRATCH (1u << 20)    /* slots of the datagrams received in one batch */
#define OVERFLOW 65536        /* the rest of a datagram longer than its slot (any UDP payload fits) */
#define MAX_PER_SOCKET 32     /* datagrams taken from one socket per batch (a window) */
#define MAX_EVENTS 256

typedef struct poller {
  napi_env env;
  uv_poll_t poll;
  int epfd;
  int polling;
  int dead;
  int sockets;
  int refs; /* sockets that keep the event loop alive */
  napi_ref callback;
  napi_ref index_ref;
  int32_t *index;
  size_t capacity; /* datagrams per batch */
  napi_async_context async;
  uint8_t *scratch; /* SCRATCH + OVERFLOW: one long datagram always fits after the slots */
  uint8_t *overflow;
} poller_t;

typedef struct sock {
  poller_t *p;
  int fd;
  int32_t id;
  uint32_t slot; /* bytes set aside per datagram: the longest this socket usually gets */
  int unref;
} sock_t;

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

static void on_ready(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  poller_t *p = handle->data;
  if (p->dead) return;
  struct epoll_event ev[MAX_EVENTS];
  int n = epoll_wait(p->epfd, ev, MAX_EVENTS, 0);
  if (n <= 0) return;
  struct mmsghdr mm[MAX_PER_SOCKET];
  struct iovec iov[2 * MAX_PER_SOCKET];
  struct sockaddr_in from[MAX_PER_SOCKET];
  size_t used = 0;
  size_t count = 0;
  for (int i = 0; i < n; i++) {
    sock_t *s = ev[i].data.ptr;
    if (s->fd < 0) continue;
    if (used >= SCRATCH) break;
    size_t room = (SCRATCH - used) / s->slot;
    size_t vlen = p->capacity - count;
    if (vlen > MAX_PER_SOCKET) vlen = MAX_PER_SOCKET;
    if (vlen > room) vlen = room;
    if (vlen == 0) break; /* the rest stay readable and come in the next batch */
    size_t base = used;
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
    if (got <= 0) continue; /* EAGAIN, or an ICMP error on a connected socket: consumed, nothing to hand on */
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
    int32_t *long_entry = NULL;
    for (int j = 0; j < got; j++) {
      int32_t *e = p->index + count * ENTRY;
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
      count++;
    }
    if (long_entry) {
      size_t len = mm[last_long].msg_len;
      memcpy(p->scratch + used, p->overflow, len);
      long_entry[1] = (int32_t)used;
      long_entry[2] = (int32_t)len;
      used += len;
    }
  }
  if (count > 0) deliver(p, used, (int)count);
}

static void start_stop(poller_t *p) {
  if (p->dead) return;
  if (p->sockets > 0 && !p->polling) {
    uv_poll_start(&p->poll, UV_READABLE, on_ready);
    p->polling = 1;
  } else if (p->sockets == 0 && p->polling) {
    uv_poll_stop(&p->poll); /* nothing open: the event loop may exit */
    p->polling = 0;
  }
  if (p->refs > 0) uv_ref((uv_handle_t *)&p->poll);
  else uv_unref((uv_handle_t *)&p->poll); /* only unref'd sockets: they do not keep the loop alive */
}

static void poller_cleanup(void *arg) {
  /* The thread's environment is going away. The struct stays (sockets may still point at it). */
  poller_t *p = arg;
  p->dead = 1;
  if (p->polling) uv_poll_stop(&p->poll);
  uv_close((uv_handle_t *)&p->poll, NULL);
  close(p->epfd);
  free(p->scratch);
  free(p->overflow);
  p->scratch = p->overflow = NULL;
}

static void close_sock(sock_t *s) {
  if (s->fd < 0) return;
  poller_t *p = s->p;
  if (!p->dead) epoll_ctl(p->epfd, EPOLL_CTL_DEL, s->fd, NULL);
  close(s->fd);
  s->fd = -1;
  p->sockets--;
  if (!s->unref) p->refs--;
  start_stop(p);
}

static void sock_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = data;
  close_sock(s);
  free(s);
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
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (p->epfd < 0) return throw_errno(env, "epoll_create1", errno);
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  if (uv_poll_init(loop, &p->poll, p->epfd) != 0) return throw_errno(env, "uv_poll_init", EINVAL);
  p->poll.data = p;
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

/* open(poller, id, address (IPv4 as uint32), port, reuseAddr, slot) -> socket */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value a[6];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  poller_t *p;
  int32_t id;
  uint32_t addr, port, maxlen;
  bool reuse;
  CHECK(napi_get_value_external(env, a[0], (void **)&p));
  CHECK(napi_get_value_int32(env, a[1], &id));
  if (!get_u32(env, a[2], &addr) || !get_u32(env, a[3], &port) || !get_u32(env, a[5], &maxlen) || port > 65535) {
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
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(addr)};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  sock_t *s = calloc(1, sizeof *s);
  s->p = p;
  s->fd = fd;
  s->id = id;
  s->slot = (maxlen + 7) & ~7u;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = errno;
    close(fd);
    free(s);
    return throw_errno(env, "epoll_ctl", err);
  }
  p->sockets++;
  p->refs++;
  start_stop(p);
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
  ssize_t r = s->fd < 0 ? -EBADF : sendmsg(s->fd, &m, MSG_DONTWAIT);
  napi_value out;
  CHECK(napi_create_int32(env, r < 0 ? (s->fd < 0 ? -EBADF : -errno) : (int32_t)r, &out));
  return out;
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
 * sendSegments(socket, list, count, segmentBytes): `count` datagrams to the connected peer in one
 * sendmsg, list = [head0, body0, head1, body1, ...], every datagram segmentBytes long but the last,
 * which may be shorter. UDP GSO (UDP_SEGMENT): the kernel cuts them apart, so a window of DATA costs
 * one trip through the stack instead of one per block. Returns bytes or -errno (EMSGSIZE, EIO or
 * EINVAL: the path cannot segment, e.g. a datagram longer than the MTU; the caller sends them one by one).
 */
static napi_value SendSegments(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  CHECK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  sock_t *s = sock_arg(env, a[0]);
  uint32_t count, seg;
  if (!s || argc < 4 || !get_u32(env, a[2], &count) || !get_u32(env, a[3], &seg) || count == 0 || count > MAX_SEGMENTS || seg == 0 || seg > 65535) {
    napi_throw_type_error(env, NULL, "udp_batch: sendSegments(socket, list, count, segmentBytes)");
    return NULL;
  }
  struct iovec iov[2 * MAX_SEGMENTS];
  for (uint32_t i = 0; i < 2 * count; i++) {
    napi_value v;
    void *d;
    size_t l;
    CHECK(napi_get_element(env, a[1], i, &v));
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
  ssize_t r = s->fd < 0 ? -1 : sendmsg(s->fd, &m, MSG_DONTWAIT);
  napi_value out;
  CHECK(napi_create_int32(env, r < 0 ? (s->fd < 0 ? -EBADF : -errno) : (int32_t)r, &out));
  return out;
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
  if (s && s->fd >= 0 && !s->unref) {
    s->unref = 1;
    s->p->refs--;
    start_stop(s->p);
  }
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
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
