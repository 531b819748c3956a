#include <stdlib.h>

#include "timers.h"

static void swap(ecs_timer *a, ecs_timer *b)
{
    ecs_timer t = *a;
    *a = *b;
    *b = t;
}

/* Equal deadlines fire in creation order: ids grow. */
static int before(const ecs_timer *a, const ecs_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->id < b->id);
}

int ecs_timers_push(ecs_timers *h, double due, lua_Integer id)
{
    if (h->count == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        ecs_timer *t = realloc(h->heap, cap * sizeof *t);
        if (t == NULL)
            return -1;
        h->heap = t;
        h->cap = cap;
    }
    size_t i = h->count++;
    h->heap[i] = (ecs_timer){ due, id };
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (before(&h->heap[parent], &h->heap[i]))
            break;
        swap(&h->heap[parent], &h->heap[i]);
        i = parent;
    }
    return 0;
}

ecs_timer ecs_timers_pop(ecs_timers *h)
{
    ecs_timer top = h->heap[0];
    h->heap[0] = h->heap[--h->count];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->count && before(&h->heap[l], &h->heap[m]))
            m = l;
        if (r < h->count && before(&h->heap[r], &h->heap[m]))
            m = r;
        if (m == i)
            break;
        swap(&h->heap[i], &h->heap[m]);
        i = m;
    }
    return top;
}

void ecs_timers_free(ecs_timers *h)
{
    free(h->heap);
    h->heap = NULL;
    h->count = h->cap = 0;
}
