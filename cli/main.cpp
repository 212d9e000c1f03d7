#include <cstdio>
int main() { std::puts("weightbridge: not yet wired"); return 0; }
