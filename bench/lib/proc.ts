import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** CPU seconds (user/system) and memory of a process, read from /proc (Linux only; null elsewhere or once it exited). */
export interface ProcessSample {
  pid: number;
  userSeconds: number;
  systemSeconds: number;
  rssBytes: number;
  /** VmHWM: the kernel's own record of the highest RSS the process ever had. */
  peakRssBytes: number;
  /** Proportional set size: shared pages divided among the processes sharing them (fair for PostgreSQL's backends). */
  pssBytes: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)).

/**
 * The numeric fields of a /proc/<pid>/stat (or a thread's /proc/<pid>/task/<tid>/stat) text from field 3 (the state,
 * NaN here) on: field N is at index N - 3. The command name (field 2) may contain spaces and parentheses: the text
 * is split after its closing one.
 */
export function statFields(stat: string): number[] {
  return stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
}

/**
 * CPU seconds from /proc/<pid>/stat: the process's own user and system time, and its children's that exited and were
 * waited for. Throws when the process is gone.
 */
function cpuTimes(pid: number): { user: number; system: number; waitedChildren: number } {
  const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return {
    user: fields[11]! / TICKS_PER_SECOND,
    system: fields[12]! / TICKS_PER_SECOND,
    waitedChildren: (fields[13]! + fields[14]!) / TICKS_PER_SECOND,
  };
}

export function sampleProcess(pid: number): ProcessSample | null {
  try {
    const cpu = cpuTimes(pid);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return {
      pid,
      userSeconds: cpu.user,
      systemSeconds: cpu.system,
      rssBytes: kb('VmRSS'),
      peakRssBytes: kb('VmHWM'),
      pssBytes: readPss(pid),
    };
  } catch {
    return null;
  }
}

/**
 * CPU seconds of a process with its children's: the waited-for ones' from its own record, and `liveChildren`'s. The
 * postmaster waits for every backend it forks, so with its live children this counts every backend, the short-lived
 * (autovacuum workers) included. null once the process is gone; a child gone meanwhile counts nothing.
 */
export function cpuSecondsWithChildren(pid: number, liveChildren: number[] = []): number | null {
  try {
    const own = cpuTimes(pid);
    return liveChildren.reduce(
      (sum, child) => {
        try {
          const times = cpuTimes(child);
          return sum + times.user + times.system;
        } catch {
          return sum;
        }
      },
      own.user + own.system + own.waitedChildren,
    );
  } catch {
    return null;
  }
}

function readPss(pid: number): number {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Direct children of a process (e.g. PostgreSQL's backends under its postmaster). */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

export interface ProcessUsage {
  name: string;
  pids: number[];
  userSeconds: number;
  systemSeconds: number;
  /** Highest RSS sampled during the window (summed over the group's processes at each sample). */
  peakRssBytes: number;
  /** Highest PSS sum sampled: for a group sharing memory (PostgreSQL), the RSS sum counts shared buffers again per backend. */
  peakPssBytes: number;
  /** VmHWM at the end (for a single process: its lifetime peak, so it includes start-up). */
  lifetimePeakRssBytes: number;
}

/**
 * Follows a named group of processes (a Herald process, or PostgreSQL and its backends) over a window:
 * CPU time spent inside it and the peak RSS seen by polling every `intervalMs`.
 */
export class ProcessGroupMonitor {
  private readonly start = new Map<number, ProcessSample>();
  private readonly last = new Map<number, ProcessSample>();
  private peakRss = 0;
  private peakPss = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly name: string,
    private readonly pids: () => number[],
    private readonly intervalMs = 250,
  ) {}

  begin(): void {
    this.start.clear();
    this.last.clear();
    this.peakRss = 0;
    this.peakPss = 0;
    this.poll(true);
    this.timer = setInterval(() => this.poll(), this.intervalMs);
    this.timer.unref();
  }

  end(): ProcessUsage {
    this.poll();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    let user = 0;
    let system = 0;
    let lifetimePeak = 0;
    for (const [pid, sample] of this.last) {
      const first = this.start.get(pid);
      user += sample.userSeconds - (first?.userSeconds ?? 0);
      system += sample.systemSeconds - (first?.systemSeconds ?? 0);
      lifetimePeak += sample.peakRssBytes;
    }
    return {
      name: this.name,
      pids: [...this.last.keys()],
      userSeconds: round(user, 2),
      systemSeconds: round(system, 2),
      peakRssBytes: this.peakRss,
      peakPssBytes: this.peakPss,
      lifetimePeakRssBytes: lifetimePeak,
    };
  }

  private poll(first = false): void {
    let rss = 0;
    let pss = 0;
    for (const pid of this.pids()) {
      const sample = sampleProcess(pid);
      if (!sample) continue;
      // A process that appeared mid-window (a new PostgreSQL backend) counts from zero CPU.
      if (!this.start.has(pid)) this.start.set(pid, first ? sample : { ...sample, userSeconds: 0, systemSeconds: 0 });
      this.last.set(pid, sample);
      rss += sample.rssBytes;
      pss += sample.pssBytes;
    }
    this.peakRss = Math.max(this.peakRss, rss);
    this.peakPss = Math.max(this.peakPss, pss);
  }
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** The postmaster's pid from its data directory, or null when it is not running there. */
export function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** Processes whose command name is `name` (e.g. the baseline's redis-server), or null when none is visible here. */
export function pidsNamed(name: string): number[] | null {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids.length > 0 ? pids : null;
}
