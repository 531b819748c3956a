/* The loop's transfers: one libcurl easy handle each, with its buffers and
 * limits; a pool of idle ones whose constant options stay set; the list of
 * those inside curl and the queue of those completed; and a completion as
 * the Lua table run_once hands back. */
#ifndef ECS_TRANSFERS_H
#define ECS_TRANSFERS_H

#include <stddef.h>

#include <curl/curl.h>

#include "compat.h"

typedef struct {
    char *data;
    size_t len, cap;
} ecs_bytes;

typedef struct ecs_transfer {
    CURL *easy;
    struct curl_slist *headers;
    ecs_bytes body, head, request_body;
    lua_Integer id;
    double started;
    CURLcode result;
    int overflow;   /* OVERFLOW_* (transfers.c): a limit of ours ended the transfer */
    char error[CURL_ERROR_SIZE]; /* libcurl's detail of a failure */
    int configured; /* the constant options are set */
    int custom_ca;  /* CURLOPT_CAINFO was set */
    struct ecs_transfer *next; /* in the completed or free list */
    struct ecs_transfer *prev_active, *next_active; /* while inside curl */
} ecs_transfer;

typedef struct {
    ecs_transfer *free;      /* pooled */
    int free_count;
    ecs_transfer *in_flight; /* list of transfers inside curl */
    int active;              /* transfers inside curl */
    ecs_transfer *done;      /* completed, not yet handed to Lua */
    ecs_transfer *done_tail;
    int closed;              /* a recycled transfer is destroyed, not pooled */
} ecs_transfers;

/* The methods a request may have (ecs_request.post holds one). */
enum { ECS_METHOD_GET = 0, ECS_METHOD_POST = 1, ECS_METHOD_PUT = 2 };

/* ECS_METHOD_* of a method name ("GET", "POST", "PUT"), or -1. */
int ecs_request_method(const char *name);

/* One request as loop:submit read it. */
typedef struct {
    const char *url, *ca_file; /* ca_file may be NULL */
    const char *body;          /* POST and PUT only; may be NULL */
    size_t body_len;
    int post;                  /* the method: ECS_METHOD_GET (0), _POST (1) or _PUT (2) */
    int verify_tls;
    long timeout_ms, connect_timeout_ms;
    struct curl_slist *headers; /* owned by the transfer once set up */
} ecs_request;

/* The "name: value" lines of the headers table of the request table at
 * index request (absent: none), and an empty Expect: (libcurl would add
 * "Expect: 100-continue" to larger POSTs, a wasted round trip). Raises on a
 * name or value that is not a string or not one line (CR, LF or NUL). */
struct curl_slist *ecs_request_headers(lua_State *L, int request);

/* A transfer from the pool, or a new one; NULL when out of memory. */
ecs_transfer *ecs_transfer_get(ecs_transfers *p);
/* Back to the pool (or freed when the pool is full or closed). */
void ecs_transfer_recycle(ecs_transfers *p, ecs_transfer *t);
/* Sets t up for req: the constant options once (with share and the socket
 * close callback), then the request's own; takes req->headers over. NULL,
 * or what could not be set (for "submit: cannot set %s"). */
const char *ecs_transfer_setup(ecs_transfer *t, const ecs_request *req, CURLSH *share,
                               curl_closesocket_callback on_close, void *close_data);
/* Hands t to multi as transfer id; CURLM_OK, or libcurl's refusal (then t
 * is still the caller's). */
CURLMcode ecs_transfer_start(ecs_transfers *p, ecs_transfer *t, CURLM *multi, lua_Integer id);

/* Moves the transfers curl finished into the completed queue. */
void ecs_transfers_collect(ecs_transfers *p, CURLM *multi);
/* Pushes the oldest completed transfer as a Lua table (see transfers.c) and
 * recycles it; 0 when none is left. now: for its latency. */
int ecs_transfers_push_done(lua_State *L, ecs_transfers *p, double now);
/* Frees pooled transfers beyond keep; returns how many. */
int ecs_transfers_trim(ecs_transfers *p, lua_Integer keep);
/* Detaches the pooled handles from their share (they attach to the loop's
 * share again on their next use). */
void ecs_transfers_unshare(ecs_transfers *p);
/* Takes every transfer out of multi and frees them all; the pool is closed. */
void ecs_transfers_close(ecs_transfers *p, CURLM *multi);

#endif
