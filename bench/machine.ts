// The machine a measurement was taken on, as every record of one carries it (`load --json`, the
// bench's header line): enough to tell two runs' machines apart and to see how busy this one was.
import os from 'node:os'
import { readFdLimit, type FdLimit } from '../lib/fd-limit.js'

export interface Machine {
  cpus: number
  cpuModel: string
  memoryMiB: number
  node: string
  platform: string
  kernel: string
  /** 1, 5 and 15 minute load averages when the record was made. */
  loadAverage: number[]
  /** This process's open-file limit. */
  fdLimit: FdLimit | null
}

/** This machine, now. */
export function describeMachine(): Machine {
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    loadAverage: os.loadavg().map(x => Math.round(x * 100) / 100),
    fdLimit: readFdLimit(),
  }
}

/** "2 CPUs (AMD EPYC), Node v20.20.2, load average 5.3 6.9 6.6": one line for a report's head. */
export function machineLine(m: Pick<Machine, 'cpus' | 'cpuModel' | 'node' | 'loadAverage'>): string {
  return `${m.cpus} CPU${m.cpus === 1 ? '' : 's'} (${m.cpuModel}), Node ${m.node}, load average ${m.loadAverage.join(' ')}`
}
