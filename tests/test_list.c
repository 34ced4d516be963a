/* The intrusive list (base/list.h) every layer's waiters use: FIFO order with push_back,
 * push_front at the head, O(1) removal of any node (first, middle, last, only) keeping the
 * order of the rest, and a zero-filled head being an empty list. Checked against a plain
 * array model over random operations, walking the list forward after each step. */
#include "testutil.h"

#include "list.h"

typedef struct item {
    int value;              /* what the model compares */
    tide__list_node_t link; /* in the list under test */
    bool linked;            /* on the list now */
} item_t;

#define N 64

/* The list must hold exactly model[0..n) in order, and its tail must be the last of them. */
static void check(const tide__list_t *l, const int *model, int n) {
    int i = 0;
    tide__list_for_each(node, l) {
        cr_assert_lt(i, n, "list longer than the model");
        cr_assert_eq(tide__list_entry(node, item_t, link)->value, model[i], "order at %d", i);
        i++;
    }
    cr_assert_eq(i, n, "list shorter than the model");
    cr_assert_eq(tide__list_empty(l), n == 0);
    if (n > 0)
        cr_assert_eq(tide__list_entry(l->last, item_t, link)->value, model[n - 1],
                     "the head points to the last node");
}

Test(list, zero_filled_is_empty_and_fifo) {
    tide__list_t l = {0};
    item_t it[3] = {{.value = 1}, {.value = 2}, {.value = 3}};
    cr_assert(tide__list_empty(&l));
    cr_assert_null(tide__list_pop_front(&l));
    for (int i = 0; i < 3; i++) tide__list_push_back(&l, &it[i].link);
    int model[] = {1, 2, 3};
    check(&l, model, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tide__list_entry(tide__list_pop_front(&l), item_t, link)->value, i + 1);
    cr_assert(tide__list_empty(&l));
}

Test(list, remove_first_middle_last_and_only) {
    tide__list_t l = {0};
    item_t it[4] = {{.value = 1}, {.value = 2}, {.value = 3}, {.value = 4}};
    for (int i = 0; i < 4; i++) tide__list_push_back(&l, &it[i].link);
    tide__list_remove(&l, &it[1].link); /* middle */
    check(&l, (int[]){1, 3, 4}, 3);
    tide__list_remove(&l, &it[3].link); /* last: the tail moves back */
    check(&l, (int[]){1, 3}, 2);
    tide__list_push_back(&l, &it[3].link);
    check(&l, (int[]){1, 3, 4}, 3);
    tide__list_remove(&l, &it[0].link); /* first: the new first inherits the tail */
    check(&l, (int[]){3, 4}, 2);
    tide__list_push_front(&l, &it[1].link);
    check(&l, (int[]){2, 3, 4}, 3);
    tide__list_remove(&l, &it[2].link);
    tide__list_remove(&l, &it[3].link);
    tide__list_remove(&l, &it[1].link); /* the only one */
    check(&l, NULL, 0);
    cr_assert_null(it[1].link.next);
    cr_assert_null(it[1].link.prev);
}

Test(list, random_operations_match_a_model) {
    item_t it[N];
    int model[N], n = 0;
    tide__list_t l = {0};
    for (int i = 0; i < N; i++) it[i] = (item_t){.value = i};
    for (int step = 0; step < 20000; step++) {
        item_t *x = &it[tt_rand() % N];
        if (x->linked) {
            int at = 0;
            while (model[at] != x->value) at++;
            if (tt_rand() % 2 || at != 0) {
                tide__list_remove(&l, &x->link);
            } else {
                cr_assert_eq(tide__list_pop_front(&l), &x->link);
            }
            for (int i = at; i < n - 1; i++) model[i] = model[i + 1];
            n--;
            x->linked = false;
        } else if (tt_rand() % 2) {
            tide__list_push_back(&l, &x->link);
            model[n++] = x->value;
            x->linked = true;
        } else {
            tide__list_push_front(&l, &x->link);
            for (int i = n; i > 0; i--) model[i] = model[i - 1];
            model[0] = x->value;
            n++;
            x->linked = true;
        }
        check(&l, model, n);
    }
}

Test(list, for_each_safe_may_unlink_the_current_node) {
    tide__list_t l = {0};
    item_t it[5];
    for (int i = 0; i < 5; i++) {
        it[i] = (item_t){.value = i};
        tide__list_push_back(&l, &it[i].link);
    }
    tide__list_for_each_safe(node, &l) {
        if (tide__list_entry(node, item_t, link)->value % 2 == 0) tide__list_remove(&l, node);
    }
    check(&l, (int[]){1, 3}, 2);
}
