/* Shared by the benchmarks: machine description and JSON-line output. */
#pragma once

#include <stdint.h>
#include <stdio.h>

/* Prints {"bench":NAME,"machine":{...}} describing where it ran. */
void bench_print_machine(const char *bench);

/* Percentile (0..100) of n sorted values. */
double bench_percentile(const double *sorted, size_t n, double pct);
void bench_sort(double *v, size_t n);
