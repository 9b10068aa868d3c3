/*
 * list.h - intrusive doubly-linked lists.
 *
 * Every pooled object (client, server, pool) embeds one or more ListNode
 * members and sits on exactly one state list through each of them.  A list
 * head is a sentinel node plus a count, so counting a state is O(1) and the
 * SHOW commands can add up.  Nothing here allocates.
 */
#ifndef LAGOON_LIST_H
#define LAGOON_LIST_H

#include <stddef.h>
#include <stdbool.h>

typedef struct ListNode {
	struct ListNode *next;
	struct ListNode *prev;
} ListNode;

typedef struct List {
	ListNode head;   /* sentinel: head.next is the first element */
	int      count;  /* number of linked elements */
} List;

#define list_entry(node, type, member) \
	((type *)((char *)(node) - offsetof(type, member)))

#define list_for_each(pos, list) \
	for ((pos) = (list)->head.next; (pos) != &(list)->head; (pos) = (pos)->next)

/* safe against removal of pos inside the body */
#define list_for_each_safe(pos, tmp, list) \
	for ((pos) = (list)->head.next, (tmp) = (pos)->next; \
	     (pos) != &(list)->head; (pos) = (tmp), (tmp) = (pos)->next)

static inline void list_init(List *l)
{
	l->head.next = l->head.prev = &l->head;
	l->count = 0;
}

static inline void list_node_init(ListNode *n)
{
	n->next = n->prev = n;
}

static inline bool list_node_linked(const ListNode *n)
{
	return n->next != n;
}

static inline bool list_empty(const List *l)
{
	return l->count == 0;
}

static inline void list_append(List *l, ListNode *n)
{
	n->prev = l->head.prev;
	n->next = &l->head;
	l->head.prev->next = n;
	l->head.prev = n;
	l->count++;
}

static inline void list_prepend(List *l, ListNode *n)
{
	n->next = l->head.next;
	n->prev = &l->head;
	l->head.next->prev = n;
	l->head.next = n;
	l->count++;
}

static inline void list_remove(List *l, ListNode *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n->prev = n;
	l->count--;
}

static inline ListNode *list_first(const List *l)
{
	return l->count ? l->head.next : NULL;
}

static inline ListNode *list_pop(List *l)
{
	ListNode *n = list_first(l);
	if (n)
		list_remove(l, n);
	return n;
}

#endif
