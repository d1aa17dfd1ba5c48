/** The main thread's own CPU time, where Node has `process.threadCpuUsage()` (23.9 and later). */
export function threadCpuUsage(): NodeJS.CpuUsage | undefined {
  const read = (process as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage;
  return read?.call(process);
}
