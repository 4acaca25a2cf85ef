/*
 * loopback_bind.so: keep every listening socket of a process tree on the loopback interface.
 *
 * Loaded with LD_PRELOAD into LocalStack in host mode (see infra/paygate_local/backends/localstack.py).
 * LocalStack's default gateway server, DynamoDB Local (Jetty, `new Server(port)`) and kinesis-mock
 * (node, host hard-coded to "0.0.0.0") all bind the wildcard address and none of them has an option
 * to choose another. This wraps libc's bind(): a TCP socket bound to 0.0.0.0 is bound to 127.0.0.1
 * instead, and one bound to :: to ::ffff:127.0.0.1 (dual-stack) or ::1 (IPV6_V6ONLY). UDP sockets
 * are rewritten only when they name a port (a server), never for port 0 (a client). Any other
 * address is passed through untouched.
 *
 * Built by localstack/setup-host.sh: cc -shared -fPIC -O2 -o loopback_bind.so loopback_bind.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

static int socket_type(int fd) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        return -1;
    return type;
}

static int should_rewrite(int fd, unsigned short port) {
    int type = socket_type(fd);
    return type == SOCK_STREAM || (type == SOCK_DGRAM && port != 0);
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static bind_fn real_bind;
    if (real_bind == NULL) {
        real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
        if (real_bind == NULL) {
            errno = ENOSYS;
            return -1;
        }
    }
    if (addr != NULL && addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        struct sockaddr_in in4;
        memcpy(&in4, addr, sizeof in4);
        if (in4.sin_addr.s_addr == htonl(INADDR_ANY) && should_rewrite(fd, in4.sin_port)) {
            in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&in4, sizeof in4);
        }
    } else if (addr != NULL && addr->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, addr, sizeof in6);
        if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr) && should_rewrite(fd, in6.sin6_port)) {
            int v6only = 0;
            socklen_t optlen = sizeof v6only;
            getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &optlen);
            if (v6only) {
                in6.sin6_addr = in6addr_loopback;
            } else {
                /* ::ffff:127.0.0.1: the dual-stack socket then accepts IPv4 connections to 127.0.0.1 only */
                memset(&in6.sin6_addr, 0, sizeof in6.sin6_addr);
                in6.sin6_addr.s6_addr[10] = 0xff;
                in6.sin6_addr.s6_addr[11] = 0xff;
                in6.sin6_addr.s6_addr[12] = 127;
                in6.sin6_addr.s6_addr[15] = 1;
            }
            return real_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
        }
    }
    return real_bind(fd, addr, len);
}
