"""feedsvc's benchmark suite: ``python -m bench [--quick]`` (see README, Benchmarks).

Every figure is measured in one run side by side with its baseline and reported
as a ratio, because the machines it runs on are shared and noisy. Loads go only
to 127.0.0.1 and are bounded in time.
"""
