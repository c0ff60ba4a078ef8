"""The composition root: parses the command line, builds everything, wires it, runs it.

No business logic lives here: each command builds the parts the stages need
and hands them over (see ``feedsvc.service`` for the long-running daemon).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from feedsvc.config import explain, load_settings
from feedsvc.errors import ConfigError, FeedsvcError
from feedsvc.logsetup import configure_logging

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feedsvc", description="Full-text feed republisher")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon: scheduler and HTTP server until SIGTERM/SIGINT")
    run.add_argument("--config", help="config file (default: $FEEDSVC_CONFIG or config/feedsvc.yaml)")

    scrape = commands.add_parser("scrape", help="refresh every section (or one) once, then exit")
    scrape.add_argument("--config", help="config file")
    scrape.add_argument("--section", action="append", metavar="SITE/SECTION", help="only this section (repeatable)")

    extract = commands.add_parser("extract", help="extract and clean one page and print the result")
    extract.add_argument("source", metavar="FILE_OR_URL")
    extract.add_argument("--url", help="the page's address when reading a file")
    extract.add_argument("--rules", help="rule file name to use (default: matched by host)")
    extract.add_argument("--config", help="config file (for its rule folders and fetch settings)")
    extract.add_argument("--format", choices=("text", "html", "json"), default="text")

    check = commands.add_parser("check-config", help="validate a config file and explain it")
    check.add_argument("path", nargs="?", help="config file")

    rules = commands.add_parser("rules", help="site rule tools")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="RULES_COMMAND")
    rules_check = rules_commands.add_parser("check", help="load every rule file and report problems")
    rules_check.add_argument("dirs", nargs="+", metavar="DIR")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        if args.command == "check-config":
            return _check_config(args.path)
        if args.command == "rules":
            return _rules_check(args.dirs)
        if args.command == "extract":
            return asyncio.run(_extract(args))
        if args.command == "scrape":
            from feedsvc.service import scrape_once

            settings = load_settings(args.config)
            return asyncio.run(scrape_once(settings, args.section, progress=sys.stderr.isatty()))
        if args.command == "run":
            from feedsvc.service import run_daemon

            settings = load_settings(args.config)
            return asyncio.run(run_daemon(settings))
    except ConfigError as exc:
        print("configuration problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except FeedsvcError as exc:
        print(f"feedsvc: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


def _check_config(path: str | None) -> int:
    settings = load_settings(path)
    from feedsvc.rules.book import RuleBook

    book = RuleBook.load(settings.rules_dirs)
    print(explain(settings))
    missing = [site.rules for site in settings.sites if site.rules and book.by_name(site.rules) is None]
    for name in missing:
        print(f"  problem: rule file {name!r} is not in any rule folder ({', '.join(settings.rules_dirs)})")
    return 1 if missing else 0


def _rules_check(dirs: Sequence[str]) -> int:
    from feedsvc.rules.check import check_dirs, format_report

    report = check_dirs([Path(d) for d in dirs])
    print(format_report(report))
    return 0 if report.failed == 0 else 1


async def _extract(args: argparse.Namespace) -> int:
    from feedsvc.service import extract_one

    article = await extract_one(args.source, page_url=args.url, rules_name=args.rules, config_path=args.config)
    if args.format == "json":
        print(json.dumps(asdict(article), default=str, ensure_ascii=False, indent=2))
    elif args.format == "html":
        print(article.body_html)
        for companion in article.companions:
            print(f"<!-- companion story: {companion.title} -->\n{companion.body_html}")
    else:
        print(_as_text(article))
    return 0


def _as_text(article: object) -> str:
    from feedsvc.clean import text_of
    from feedsvc.models import Article

    assert isinstance(article, Article)
    lines = [article.title]
    meta = [part for part in (article.author and f"By {article.author}", article.place, article.agency, article.published_day and str(article.published_day)) if part]
    if meta:
        lines.append(" | ".join(str(m) for m in meta))
    lines += ["", text_of(article.body_html)]
    for companion in article.companions:
        lines += ["", f"== companion story: {companion.title} ({companion.place}, {companion.agency}, {companion.published_day})", text_of(companion.body_html)]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
