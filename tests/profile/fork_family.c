/* SPDX-License-Identifier: MIT */
/* tests/profile/fork_family.c - a parent and a forked child with known allocations on each
 * side of the fork, for check_fork_family.py. Run with ALLOY_PROFILE set; uses the routed API
 * only, so the profile holds exactly the blocks below.
 *
 * parent: 100 x 100 B, frees 40; fork; then 10 x 300 B, frees 10 of its pre-fork blocks.
 * child:  frees 20 of the 60 blocks it inherited; 50 x 200 B, frees 30 of those.
 * Each leaves the rest live at exit. Prints "child <pid>".
 */
#include <alloy.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    static void *pre[100], *post[50];
    for (int i = 0; i < 100; i++) pre[i] = alloy_malloc(100);
    for (int i = 0; i < 40; i++) alloy_free(pre[i]);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
        for (int i = 40; i < 60; i++) alloy_free(pre[i]);
        for (int i = 0; i < 50; i++) post[i] = alloy_malloc(200);
        for (int i = 0; i < 30; i++) alloy_free(post[i]);
        return 0; /* exit: the profile is written by the destructor */
    }
    for (int i = 0; i < 10; i++) post[i] = alloy_malloc(300);
    for (int i = 90; i < 100; i++) alloy_free(pre[i]);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
    printf("child %d\n", (int)pid);
    return 0;
}
