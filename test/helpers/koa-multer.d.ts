declare module '@koa/multer' {
  import type multer from 'multer';

  type KoaMw = (ctx: unknown, next: () => Promise<unknown>) => Promise<void>;
  interface KoaMulter {
    single(field: string): KoaMw;
    array(field: string, max?: number): KoaMw;
    any(): KoaMw;
    none(): KoaMw;
  }
  function koaMulter(options?: multer.Options): KoaMulter;
  export default koaMulter;
}
