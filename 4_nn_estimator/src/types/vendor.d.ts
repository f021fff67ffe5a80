// Types for the parts of untyped packages the model code uses.
declare module 'jstat' {
  interface Dist { cdf(x: number, ...params: number[]): number; inv(p: number, ...params: number[]): number }
  const pkg: { jStat: { studentt: Dist; normal: Dist; gammaln(x: number): number } };
  export default pkg;
}
