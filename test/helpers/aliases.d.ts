// Express 4 and Koa 2 are installed under aliases so the suite runs against both majors.
declare module 'express4' {
  import express from 'express';
  export default express;
}
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
