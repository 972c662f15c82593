# Exercise 2a: print every argument on its own line.
for word in "$@"; do echo "$word"; done
